"""`harness compare A B`: the paired difference of two losses' primary metric, with its CI.

Exit codes: 0 compared (whatever the verdict), 2 the two cannot be compared or a side was not found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.commands.options import SEEDS, quiet_option
from harness.comparison import CompareError, compare_specs, format_comparison
from harness.specs import SpecError, loss_path
from harness.store import run_side


def _runner(suite: str | None, seeds: int | str | None, backend: str, quiet: bool, store_url: str | None):
    def run(spec: str, record_seeds: int | None) -> dict:
        from harness.bench import BenchUsageError, bench_and_store  # torch and the suites: only when running

        try:  # kept in the run store like every bench run
            return bench_and_store(loss_path(spec), suite=suite or "tiny", seeds=seeds or record_seeds or 3,
                                   backend=backend, progress=not quiet, store_url=store_url).record
        except (BenchUsageError, SpecError) as e:
            raise CompareError(str(e)) from None
    return run


def _lookup(store_url: str | None):
    """Run ids through the run store (harness.store.run_side: verified as the store says), its errors as
    CompareError."""
    def lookup(spec: str):
        try:
            return run_side(spec, store_url)
        except SpecError as e:
            raise CompareError(str(e)) from None
    return lookup


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--board", "board_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Board folder (e.g. leaderboards/tiny) in which A and B may name entries (loss name or sha256 prefix).")
@click.option("--table", help="Outcomes table to compare (default: the records' primary, e.g. verdict; or kl1, end).")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level of the interval.")
@click.option("--suite", help="Suite for loss files given as A or B (default: the other side's, else tiny).")
@click.option("--seeds", type=SEEDS, help="Seeds for losses to run: a number or auto (default: as many as the other "
              "side has, else 3).")
@click.option("--store", "store_url", help="Run store SQLAlchemy URL (run ids). Default: runs.sqlite under HARNESS_HOME.")
@click.option("--backend", default="auto", show_default=True, help="Sandbox backend for loss files.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object (difference, difference_ci, a, b, paired, ...).")
@click.option("--include-unverified", is_flag=True,
              help="Let A or B name an UNVERIFIED board entry (a submitter's claim); it is labelled in the output.")
@quiet_option
def command(a, b, board_dir, table, level, suite, seeds, store_url, backend, as_json, include_unverified, quiet):
    """Compare A and B, paired by seed and prompt: each a run id (`harness runs`), a record file, a board entry,
    or a loss (a file or a built-in's name) run on the other side's seeds."""
    try:
        result = compare_specs(a, b, board_dir=board_dir, table=table, level=level,
                               run=_runner(suite, seeds, backend, quiet, store_url), lookup=_lookup(store_url),
                               include_unverified=include_unverified)
    except (CompareError, ValueError) as e:
        click.echo(f"harness compare: cannot compare: {e}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else format_comparison(result))
