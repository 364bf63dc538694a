"""`harness reproduce RECORD`: re-run a record's seeds here, compare seed by seed and prompt by prompt.

RECORD is a record file, a run id of the local run store (`harness runs`), or a board entry (a loss
name or sha256 prefix, with --board). Exit codes: 0 identical (or within --tolerance), 1 different,
2 the record cannot be re-run (usage or infrastructure error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.commands.options import quiet_option
from harness.comparison import CompareError, resolve
from harness.specs import SpecError
from harness.store import run_side


def _load(spec: str, board_dir: Path | None) -> tuple[dict, str]:
    try:
        found = resolve(spec, board_dir, lookup=run_side)
    except (CompareError, SpecError) as e:
        raise click.UsageError(str(e)) from None
    if found is None:
        raise click.UsageError(f"{spec} names a loss; reproduce takes a record (file, run id or board entry)")
    return found


@click.command("reproduce")
@click.argument("record")
@click.option("--board", "board_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Board folder in which RECORD names an entry (loss name or sha256 prefix).")
@click.option("--seeds", "seed_text", help="Comma-separated seeds to re-run (default: all of the record's).")
@click.option("--tolerance", type=float, default=None,
              help="Win-rate difference per seed (a fraction) still counted as reproduced "
                   "(default: 0 when the record names this machine's CPU model and instruction set, else "
                   "0.001, harness.reproduce.default_tolerance).")
@click.option("--backend", default="auto", show_default=True, help="Sandbox backend for the loss.")
@click.option("--parallel", "jobs", type=click.IntRange(min=1),
              help="Seeds re-run at once in worker processes (default: one per usable CPU).")
@click.option("--jobs", "jobs_alias", type=click.IntRange(min=1), hidden=True, help="Former name of --parallel.")
@click.option("--report", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as JSON to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout instead of the text.")
@click.option("--against", "against", metavar="RUN",
              help="Compare with RUN (a record file or run id) instead of re-running: a run of the same loss file, "
                   "suite config and beta made elsewhere or earlier, holding the seeds (e.g. the regression "
                   "check's run). Nothing is trained.")
@quiet_option
def command(record, board_dir, seed_text, tolerance, backend, jobs, jobs_alias, json_path, as_json, against, quiet):
    """Re-run RECORD's seeds in its own suite config and report identical / within tolerance / different."""
    from harness.reproduce import (
        DIFFERENT,
        ReproduceError,
        format_reproduction,
        reproduce,
    )

    rec, source = _load(record, board_dir)
    try:
        seeds = None if not seed_text else [int(s) for s in seed_text.split(",") if s.strip()]
    except ValueError:
        raise click.UsageError(f"--seeds takes comma-separated integers, got {seed_text!r}") from None
    rerun = None if against is None else _load(against, None)[0]
    try:
        rep = reproduce(rec, seeds=seeds, tolerance=tolerance, rerun=rerun,
                        backend=backend, progress=not quiet, jobs=jobs or jobs_alias)
    except (ReproduceError, KeyError, TypeError) as e:
        click.echo(f"harness reproduce: cannot re-run {source}: {e}", err=True)
        sys.exit(2)
    as_dict = dict(rep.as_dict(), source=source)
    click.echo(json.dumps(as_dict, indent=2) if as_json else format_reproduction(rep, source))
    if json_path is not None:
        json_path.write_text(json.dumps(as_dict, indent=2))
    sys.exit(1 if rep.verdict == DIFFERENT else 0)
