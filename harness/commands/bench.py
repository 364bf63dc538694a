"""`harness bench --loss FILE`: train with a loss on a suite, judge, and report win rates with CIs.

Exit codes: 0 the run finished (status ok), 1 the candidate loss failed (the record says why),
2 usage error or the sandbox cannot run. With --json, stdout is exactly the record.
"""

from __future__ import annotations

import contextlib
import json
import sys

import click


def _suite_names() -> list[str]:
    from harness.suites import SUITES

    return SUITES.names()


def _parse_overrides(items: tuple[str, ...]) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. train.learning_rate=1e-4)", param_hint="--set")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@click.command("bench")
@click.option("--loss", "loss_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The loss file (.py) to benchmark.")
@click.option("--suite", default="tiny", show_default=True, help="Benchmark suite (see `harness suites`).")
@click.option("--seeds", default="3", show_default=True,
              help="Training seeds: a number, or 'auto' (add seeds until the CI half-width is at most "
                   "--seeds-target or --seeds-cap seeds ran; tiny suite).")
@click.option("--seeds-target", type=click.FloatRange(min=0, max=0.5, min_open=True, max_open=True), default=None,
              help="With --seeds auto: the CI half-width to reach, as a win-rate fraction [default: 0.02].")
@click.option("--seeds-cap", type=click.IntRange(min=1), default=None,
              help="With --seeds auto: the most seeds to run [default: 10].")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=None,
              help="KL strength passed to the loss [default: the suite's].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the record [default: the run store, harness.paths.runs_dir()].")
@click.option("--json", "as_json", is_flag=True, help="Print exactly the record (JSON) on stdout.")
@click.option("--backend", default="auto", show_default=True,
              help="Sandbox backend that runs the loss (auto = the jail; none needs --trust).")
@click.option("--trust", is_flag=True, help="Allow backend 'none' (in-process) for a file you wrote or reviewed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a suite config field, e.g. --set train.learning_rate=1e-4 (repeatable).")
@click.option("--thorough", is_flag=True,
              help="Also try half and double the suite's learning rate; the verdict is the best learning rate "
                   "per seed at the KL budget (is the loss bad, or just mistuned?). 3x the time.")
@click.option("--lr-grid", default=None, metavar="LR,LR,...",
              help="Thorough mode with these learning rates instead (comma-separated).")
def command(loss_path, suite, seeds, seeds_target, seeds_cap, beta, out_dir, as_json, backend, trust, overrides,
            thorough, lr_grid):
    """Benchmark a loss file: train, generate, judge, and report win rates with 95% CIs."""
    from harness.bench import BenchUsageError, run_bench

    seeds, auto = _parse_seeds(seeds, seeds_target, seeds_cap)
    if suite not in _suite_names():
        raise click.BadParameter(f"unknown suite {suite!r}; choices: {', '.join(_suite_names())}",
                                 param_hint="--suite")
    grid = "default" if thorough else None
    if lr_grid is not None:
        try:
            grid = [float(x) for x in lr_grid.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter(f"{lr_grid!r} is not a comma-separated list of numbers (e.g. 1e-4,2e-4,4e-4)",
                                     param_hint="--lr-grid") from None
    try:
        # Libraries may print; with --json stdout must be exactly the record, so it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
            record = run_bench(loss_path, suite=suite, seeds=seeds, beta=beta, backend=backend, out_dir=out_dir,
                               progress=not as_json or sys.stderr.isatty(),
                               overrides=_parse_overrides(overrides), trust=trust, lr_grid=grid, auto_seeds=auto)
    except BenchUsageError as e:
        click.echo(f"harness bench: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({k: v for k, v in record.items() if k != "path"}, indent=2, sort_keys=True))
    else:
        click.echo(render(record))
        click.echo(f"\nrecord: {record['path']}")
    from harness.store import RunStore, StoreError

    try:
        RunStore().add(record)  # every bench run is kept in the run store, queryable with `harness runs`
    except StoreError as e:
        click.echo(f"harness bench: the run was not stored ({e}); its record file is kept", err=True)
        sys.exit(2)
    if record["status"] != "ok":
        click.echo(f"harness bench: the loss failed ({record['status']}): {record['error']}", err=True)
        sys.exit(1)
    sys.exit(0)


def _parse_seeds(seeds: str, target, cap):
    """(seeds, AutoSeeds or None) from --seeds N|auto and its two options."""
    from harness.suites.tiny.evaluate import AutoSeeds

    if seeds.strip().lower() == "auto":
        defaults = AutoSeeds()
        try:
            auto = AutoSeeds(target=defaults.target if target is None else target,
                             cap=defaults.cap if cap is None else cap, start=min(defaults.start, cap or defaults.cap))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--seeds-cap") from None
        return "auto", auto
    if target is not None or cap is not None:
        raise click.BadParameter("--seeds-target and --seeds-cap go with --seeds auto", param_hint="--seeds")
    try:
        n = int(seeds)
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"{seeds!r} is neither a positive integer nor 'auto'", param_hint="--seeds")
    return n, None


def _ci(m: dict, key: str) -> str:
    if m.get(key) is None:
        return "not measured"
    lo, hi = m[f"{key}_ci"]
    sem = m.get(f"{key}_sem")
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]" + (f" SEM {sem:.3f}" if sem is not None else "")


def _seed_counts(m: dict, key: str) -> str:
    """Which seeds the budget's number comes from: measured, censored (never reached), unresolved."""
    parts = [f"{m.get(f'{k}{key}_seeds', 0)} {k}" for k in ("measured", "censored", "unresolved")]
    return ", ".join(parts)


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def render(record: dict) -> str:
    """The readable summary: the verdict with CIs, then one row per seed."""
    from tabulate import tabulate

    head = (f"loss {record['loss']['name']} ({record['loss']['sha256'][:12]})  suite {record['suite']['name']} "
            f"({record['suite']['config_hash']})  beta {record['beta']:g}  seeds {record['seeds']}  "
            f"sandbox {record['sandbox']['backend']}")
    if record["status"] != "ok":
        return f"{head}\nstatus: {record['status']}\nerror: {record['error']}"
    m = record["metrics"]
    budget = m["kl_budget"]
    rows = [
        [f"win rate @ KL {budget:g} (primary)", _ci(m, "win_rate"), _seed_counts(m, "")],
        ["win rate @ KL 1", _ci(m, "win_rate_kl1"), _seed_counts(m, "_kl1")],
        ["win rate, end of training", _ci(m, "win_rate_end"), ""],
        ["win rate, step 0 (the reference itself)", _ci(m, "win_rate_reference"), "the null"],
        [f"difference @ KL {budget:g} - step 0 (paired)", _ci(m, "vs_reference"), "measured seeds"],
        [f"gold reward @ KL {budget:g}", _fmt(m.get("reward")), ""],
        ["KL(policy || ref), end", f"{m['kl']:.3f}", f"seed sd {m['kl_seed_sd']:.3f}"],
        ["fluency, end", f"{m['fluency']:.3f}", ""],
        ["distinct-2, end", f"{m['distinct_2']:.3f}", ""],
        ["mean length (tokens), end", f"{m['mean_length']:.1f}", ""],
    ]
    seeds = [[s["seed"], _fmt(s["win_rate"]), s.get("status", ""), f"{s['win_rate_end']:.3f}",
              f"{s['kl']:.2f}", f"{s['fluency']:.2f}"] for s in record["per_seed"]]
    if record.get("thorough"):
        grid = record["thorough"]
        lr_rows = [[f"{r['learning_rate']:g}", _ci(r, "win_rate"), f"{r['censored_seeds']} / {r.get('unresolved_seeds', 0)}", f"{r['win_rate_end']:.3f}",
                    f"{r['kl']:.2f}"] for r in grid["per_learning_rate"]]
        rows[0][0] = f"win rate @ KL {budget:g}, best lr per seed (primary)"
        seeds = [row + [f"{s['learning_rate']:g}"] for row, s in zip(seeds, record["per_seed"], strict=True)]
        extra = ["", tabulate(lr_rows, headers=["learning rate", f"win@KL{budget:g} [95% CI]", "censored / unresolved seeds",
                                                "win end", "KL end"])]
    else:
        extra = []
    times = ", ".join(f"{k} {v:.1f}s" for k, v in record["timings"].items())
    return "\n".join([
        head, "",
        tabulate(rows, headers=["metric", "value [95% CI]", "note"]), "",
        tabulate(seeds, headers=["seed", f"win@KL{budget:g}", "status", "win end", "KL end", "fluency",
                                 *(["lr"] if extra else [])]), *extra, "",
        f"verdict: {m['verdict']}", *([f"seeds auto: {m['seeds_auto']['stopped']}"] if m.get("seeds_auto") else []),
        f"timings: {times}",
    ])
