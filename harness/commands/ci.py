"""`harness ci`: run losses on a suite and fail when results are worse than a baseline.

Exit codes: 0 nothing regressed (or the baseline was written), 1 a regression (a failed loss run
counts), 2 a usage or infrastructure error -- so that a broken CI setup is never read as a regression.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from harness.commands.options import quiet_option
from harness.regression import CIConfig, CIError, ComparisonConfig, format_markdown, format_table, run_ci


def _loss_list(losses: str | None, loss: str | None) -> tuple[str, ...]:
    if losses and loss:
        raise click.UsageError("give either --losses a.py,b.py or --loss FILE, not both")
    if loss:
        return (loss,)
    return tuple(p.strip() for p in losses.split(",") if p.strip()) if losses else ()


@click.command("ci")
@click.option("--suite", default="tiny", show_default=True, help="Benchmark suite (see `harness suites`).")
@click.option("--losses", help="Comma-separated loss files. Default: the losses recorded in the baseline.")
@click.option("--loss", help="One loss file (instead of --losses).")
@click.option("--baseline", "baseline", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Baseline JSON file to compare with (or to write with --update-baseline).")
@click.option("--seeds", type=int, help="Number of training seeds. Default: as many as the baseline has "
              "(14 with --update-baseline: on tiny v2 a 5-point drop is caught 99% of the time even at the "
              "seed spread of the board's stable losses; benchmarks/results/ci_power_board_noise.json).")
@click.option("--tolerance", type=float, default=ComparisonConfig.tolerance, show_default=True,
              help="A drop counts only when its whole 95% CI lies below -TOLERANCE (win-rate units).")
@click.option("--update-baseline", "update", is_flag=True, help="Run and write the baseline instead of comparing.")
@click.option("--allow-dirty", is_flag=True, help="Accept runs from a checkout with uncommitted changes in a baseline.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--report", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON report to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout instead of the table.")
@click.option("--backend", default="auto", show_default=True, help="Sandbox backend for the loss files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each run's record into this folder (default: the run folder under HARNESS_HOME), e.g. for "
                   "`harness reproduce RECORD --against` on the same runs.")
@quiet_option
def command(suite, losses, loss, baseline, seeds, tolerance, update, allow_dirty, summary, json_path, as_json, backend,
            out_dir, quiet):
    """Regression benchmark: run the losses with fixed seeds and compare each win rate with a baseline."""
    try:
        cfg = CIConfig(baseline=baseline, suite=suite, losses=_loss_list(losses, loss), seeds=seeds, update=update,
                       allow_dirty=allow_dirty, backend=backend, out_dir=out_dir, progress=not quiet, comparison=ComparisonConfig(tolerance=tolerance))
        report, records = run_ci(cfg)
    except CIError as e:
        click.echo(f"harness ci: error: {e}", err=True)
        sys.exit(2)
    except Exception:  # a crash of the harness itself is an infrastructure error, never a regression
        traceback.print_exc()
        click.echo("harness ci: error: the harness crashed (traceback above); this is not a regression", err=True)
        sys.exit(2)
    if report is None:
        names = ", ".join(r["loss"]["name"] for r in records)
        click.echo(f"harness ci: wrote baseline {baseline} ({names}; seeds {records[0]['seeds']})")
        sys.exit(0)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_table(report))
    try:
        _write_outputs(report, summary, json_path)
    except OSError as e:
        click.echo(f"harness ci: error: cannot write the report ({e}); check the --summary/--report paths", err=True)
        sys.exit(2)
    sys.exit(report.exit_code)


def _write_outputs(report, summary: Path | None, json_path: Path | None) -> None:
    if summary:
        with open(summary, "a") as f:  # append: $GITHUB_STEP_SUMMARY may hold other steps' output
            f.write(format_markdown(report))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
