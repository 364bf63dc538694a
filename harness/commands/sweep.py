"""``harness bench --sweep loss.NAME=V,V,...``: one bench per value of a declared hyper-parameter.

Each value is its own run, record and board entry (harness.hyperparams.entry_key); the table shows the
suite's primary metric with its CI per value. Exit codes as ``harness bench``: 0 every run ok, 1 a run's
loss failed (the others still ran), 2 usage error.
"""

from __future__ import annotations

import contextlib
import json
import sys

import click

from harness.hyperparams import PREFIX
from harness.text import clean_block, clean_terminal


def parse_sweep(text: str) -> tuple[str, list]:
    """(hyper-parameter name, values) from ``loss.NAME=V,V,...``; BadParameter names the fix."""
    key, sep, raw = text.partition("=")
    try:
        values = [json.loads(v) for v in raw.split(",") if v.strip()]
    except json.JSONDecodeError:
        values = []
    if not (sep and key.startswith(PREFIX) and key[len(PREFIX):]) or len(values) < 2 or len(set(values)) != len(values) \
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise click.BadParameter(f"{text!r} is not loss.NAME=V,V,... with two or more distinct numbers "
                                 "(e.g. loss.ld_alpha=0.25,0.5,1)", param_hint="--sweep")
    return key[len(PREFIX):], values


def sweep_hyperparameter(text: str, loss_path, overrides: dict, options: dict, as_json: bool, runner,
                         progress: bool) -> None:
    """Run ``runner`` (bench_and_store or its container twin) once per value; print the table; exit."""
    from harness.bench import BenchUsageError  # imported late: torch and the suites are heavy

    name, values = parse_sweep(text)
    if PREFIX + name in overrides:
        raise click.BadParameter(f"--sweep sets {PREFIX}{name} itself; drop it from --set", param_hint="--sweep")
    runs = []
    for value in values:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                run = runner(loss_path, progress=progress,
                             overrides={**overrides, PREFIX + name: value}, **options)
        except BenchUsageError as e:
            click.echo(f"harness bench: {clean_terminal(str(e))}", err=True)
            sys.exit(2)
        runs.append((value, run))
    rows = [_row(name, value, run) for value, run in runs]
    if as_json:
        click.echo(json.dumps({"sweep": name, "runs": rows}, indent=2, sort_keys=True))
    else:
        from tabulate import tabulate

        click.echo(tabulate([(r[name], r["status"], _pct(r), r["kl"] if r["kl"] is not None else "", r["record"])
                             for r in rows], headers=[name, "status", "win rate % [95% CI]", "KL end", "record"]))
    failed = [(v, run.record) for v, run in runs if run.record["status"] != "ok"]
    for value, record in failed:
        click.echo(f"harness bench: {name}={value:g}: the loss failed ({record['status']}): "
                   f"{clean_block(record['error'])}", err=True)
    sys.exit(1 if failed else 0)


def _row(name: str, value, run) -> dict:
    metrics = run.record.get("metrics") or {}
    return {name: value, "status": run.record["status"], "win_rate": metrics.get("win_rate"),
            "win_rate_ci": metrics.get("win_rate_ci"), "kl": metrics.get("kl"), "record": str(run.path),
            "hyperparameters": run.record["loss"].get("hyperparameters")}


def _pct(row: dict) -> str:
    if row["win_rate"] is None:
        return "not measured" if row["status"] == "ok" else ""
    lo, hi = row["win_rate_ci"]
    return f"{100 * row['win_rate']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
