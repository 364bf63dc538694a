"""`harness bench --loss FILE`: train with a loss on a suite, judge, and report win rates with CIs.

Exit codes: 0 the run finished (status ok), 1 the candidate loss failed (the record says why),
2 usage error or the sandbox cannot run. With --json, stdout is exactly the record.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from harness.commands.options import LOSS, container_options, parse_overrides, quiet_option
from harness.executors import bench_runner, executor_names
from harness.formats import FORMATS
from harness.text import clean_block, clean_terminal
from harness.transcript import export_answers


def _suite_names() -> list[str]:
    from harness.suites import SUITES

    return SUITES.names()


@click.command("bench")
@click.option("--loss", "loss_path", required=True, type=LOSS,
              help="The loss to benchmark: a loss file (.py) or a built-in's name (dpo, ipo, ...: `harness losses`).")
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
              help="Override a suite config field, e.g. --set train.learning_rate=1e-4, or set a hyper-parameter "
                   "the loss file declares, e.g. --set loss.tau=0.1 (repeatable).")
@click.option("--thorough", is_flag=True,
              help="Also try half and double the suite's learning rate; the verdict is the best learning rate "
                   "per seed at the KL budget (is the loss bad, or just mistuned?). 3x the time.")
@click.option("--lr-grid", default=None, metavar="LR,LR,...",
              help="Thorough mode with these learning rates instead (comma-separated).")
@click.option("--executor", type=click.Choice(executor_names("bench")), default="local", show_default=True,
              help="Where the seeds run (harness.executors): local processes, or docker: each seed in its own "
                   "hardened container of the job image.")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="Seeds run at once (as on discover: units of work at once): worker processes with one torch "
                   "thread each (tiny suite; default one per CPU this process may use, at most the seeds), or job "
                   "containers with --executor docker (default 1; on a GPU host at most one per card). Never "
                   "changes a number.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, hidden=True,
              help="Former name of --parallel for worker processes.")
@click.option("--beta-sweep", default=None, metavar="BETA,BETA,...",
              help="The paper's IMDb protocol (tiny suites): one run per beta (each its own record and config "
                   "hash), then the reward-vs-KL frontier points, e.g. 0.01,0.05,0.1,0.5.")
@click.option("--sweep", "hyper_sweep", default=None, metavar="loss.NAME=V,V,...",
              help="One run per value of a hyper-parameter the loss file declares (each its own record and board "
                   "entry), then a table, e.g. --sweep loss.ld_alpha=0.25,0.5,1.")
@click.option("--answers", "answers_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the first seed's answers and the reference answers to this folder, in --answers-format "
                   "(AlpacaEval, MT-Bench or Arena-Hard layout; docs/formats.md).")
@click.option("--answers-format", type=click.Choice(FORMATS), default="alpaca_eval", show_default=True,
              help="Format of --answers.")
@quiet_option
@container_options
def command(loss_path, suite, seeds, seeds_target, seeds_cap, beta, out_dir, as_json, backend, trust, overrides,
            thorough, lr_grid, executor, parallel, jobs, containers, beta_sweep, hyper_sweep, answers_dir,
            answers_format, quiet):
    """Benchmark a loss (a file or a built-in's name): train, generate, judge, and report win rates in % with
    95% CIs.

    A loss's declared hyper-parameters are set with --set loss.NAME=VALUE (recorded in the record and
    part of its board entry) and swept with --sweep loss.NAME=V,V,..."""
    from harness.bench import BenchUsageError
    from harness.report import render_record

    jobs = (parallel or jobs) if executor == "local" else None  # docker: containers.parallel (container_options)
    progress = not quiet and (not as_json or sys.stderr.isatty())

    seeds, auto = _parse_seeds(seeds, seeds_target, seeds_cap)
    if hyper_sweep is not None:
        from harness.commands.sweep import sweep_hyperparameter

        if beta_sweep is not None or auto is not None:
            raise click.BadParameter("--sweep runs one bench per value, without --beta-sweep or --seeds auto",
                                     param_hint="--sweep")
        options = dict(suite=suite, seeds=seeds, beta=beta, backend=backend, out_dir=out_dir, trust=trust,
                       lr_grid=None, auto_seeds=None, **({"jobs": jobs} if jobs is not None else {}))
        sweep_hyperparameter(hyper_sweep, loss_path, parse_overrides(overrides), options, as_json,
                             bench_runner(executor, containers), progress)
    if beta_sweep is not None:
        betas = _parse_betas(beta_sweep, beta, thorough or lr_grid is not None, auto)
        _sweep(betas, loss_path, suite, seeds, out_dir, as_json, backend, trust, parse_overrides(overrides),
               executor, containers, jobs, progress)
    if auto is not None and executor != "local":
        raise click.BadParameter("--seeds auto runs with --executor local only", param_hint="--seeds")
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
            run = bench_runner(executor, containers)(loss_path, suite=suite, seeds=seeds, beta=beta, backend=backend, out_dir=out_dir,
                                  progress=progress,
                                  overrides=parse_overrides(overrides), trust=trust, lr_grid=grid,
                                  auto_seeds=auto, **({"jobs": jobs} if jobs is not None else {}))
    except BenchUsageError as e:
        click.echo(f"harness bench: {clean_terminal(str(e))}", err=True)
        sys.exit(2)
    record = run.record
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
    else:
        click.echo(render_record(record))
        click.echo(f"\nrecord: {run.path}" + ("" if run.run_id is None else f" (run {run.run_id}; `harness show "
                                                                             f"{run.run_id}` shows its answers)"))
    if answers_dir is not None:
        _write_answers(record, answers_dir, answers_format)
    if record["status"] == "ok" and len(record["seeds"]) == 1:
        click.echo(ONE_SEED_WARNING, err=True)
    if run.store_error:
        click.echo(f"harness bench: the run was not stored ({run.store_error}); its record file is kept", err=True)
        sys.exit(2)
    if record["status"] != "ok":
        click.echo(f"harness bench: the loss failed ({record['status']}): {clean_block(record['error'])}",
                   err=True)
        sys.exit(1)
    sys.exit(0)


ONE_SEED_WARNING = ("harness bench: warning: one seed: its interval covers prompt and sampling noise only, not "
                    "training noise (another seed can land outside it); use --seeds 3 or more, or --seeds auto, "
                    "before drawing a conclusion")


def _write_answers(record: dict, folder: Path, fmt: str) -> None:
    if not record.get("answers"):
        click.echo("harness bench: the run kept no answers (a failed run, or a suite that keeps none); --answers "
                   "wrote nothing", err=True)
        return
    written = export_answers(record["answers"], folder, fmt,
                             model=f"{record['loss']['name']}-{record['loss']['sha256'][:8]}")
    click.echo(f"answers ({fmt}): " + ", ".join(str(p) for p in written), err=True)


def _parse_betas(text: str, beta, thorough: bool, auto) -> list[float]:
    from harness.sweep import parse_betas

    if beta is not None or thorough or auto is not None:
        raise click.BadParameter("--beta-sweep sets beta itself, one run per value, without --beta, thorough mode "
                                 "or --seeds auto", param_hint="--beta-sweep")
    try:
        return parse_betas(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--beta-sweep") from None


def _sweep(betas, loss_path, suite, seeds, out_dir, as_json, backend, trust, overrides, executor, containers, jobs,
           progress):
    """harness.sweep.beta_sweep, then the frontier table (or JSON); exit 1 when a beta's run failed."""
    from harness.bench import BenchUsageError
    from harness.sweep import beta_sweep, render_frontier

    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = beta_sweep(loss_path, betas, suite=suite, overrides=overrides, run=bench_runner(executor, containers),
                                seeds=seeds, backend=backend, out_dir=out_dir, trust=trust, lr_grid=None,
                                progress=progress, auto_seeds=None,
                                **({"jobs": jobs} if jobs is not None else {}))
    except BenchUsageError as e:
        click.echo(f"harness bench: {clean_terminal(str(e))}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    elif result.points:
        click.echo(render_frontier(result.points, result.kl_budget))
    for b, r in result.failed:
        click.echo(f"harness bench: beta {b:g}: the loss failed ({r['status']}): {clean_block(r['error'])}", err=True)
    sys.exit(1 if result.failed else 0)


def _parse_seeds(seeds: str, target, cap):
    """(seeds, AdaptiveSeeds or None) from --seeds N|auto and its two options."""
    if seeds.strip().lower() == "auto":
        from harness.suites import AdaptiveSeeds

        d = AdaptiveSeeds()
        try:
            auto = AdaptiveSeeds(target=d.target if target is None else target, cap=d.cap if cap is None else cap,
                             start=min(d.start, cap or d.cap))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--seeds-cap") from None
        return "auto", auto
    if target is not None or cap is not None:
        raise click.BadParameter("--seeds-target and --seeds-cap go with --seeds auto", param_hint="--seeds")
    n = int(seeds) if seeds.strip().isdigit() else 0
    if n < 1:
        raise click.BadParameter(f"{seeds!r} is neither a positive integer nor 'auto'", param_hint="--seeds")
    return n, None
