"""`harness runs`: query the run store (every `harness bench` / `harness submit` run is in it).

Runs that are not evidence (records made elsewhere that no board verified, runs of unknown provenance
stored before verification was recorded) are left out unless --include-unverified, which labels them.

Exit codes: 0 listed, 1 the asked-for run is not in the store, 2 usage or store error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tabulate import tabulate

from harness.commands.options import quiet_option
from harness.store import RunNotFound, RunStore, StoreError, runs_csv, runs_parquet
from harness.text import clean_line


def _ci(ci) -> str:
    return f"{100 * ci[0]:.1f} – {100 * ci[1]:.1f}" if ci else ""


def _write_table(runs, fmt: str, out_path: Path | None) -> None:
    if fmt == "parquet":
        if out_path is None:
            raise click.UsageError("--format parquet writes a file: give --out runs.parquet")
        try:
            click.echo(f"wrote {runs_parquet(runs, out_path)} ({len(runs)} runs)", err=True)
        except ImportError as e:
            click.echo(f"harness runs: {e}", err=True)
            sys.exit(2)
        return
    text = runs_csv(runs) if fmt == "csv" else json.dumps([r.as_dict() for r in runs], indent=2) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")


@click.command("runs")
@click.option("--suite", help="Only runs of this suite.")
@click.option("--loss", help="Only runs of this loss (its name, or a prefix of its file's sha256).")
@click.option("--status", help="Only runs with this status (ok, crash, timeout, ...).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest N runs.")
@click.option("--id", "run_id", type=int, help="Print the full record of one run (JSON) instead of a list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of runs instead of a table (--format json).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "parquet"]), default="table",
              show_default=True, help="csv: on stdout, for pandas.read_csv; parquet: to --out (pandas + pyarrow). "
              "Win rates as shares in [0, 1] (as leaderboard.csv, records and --json); the table prints percent.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the table to this file instead of stdout (required for parquet).")
@click.option("--store", "url", help="SQLAlchemy URL of the store. Default: runs.sqlite under HARNESS_HOME.")
@click.option("--include-unverified", is_flag=True,
              help="Also list records made elsewhere that no board verified (labelled UNVERIFIED).")
@quiet_option
def command(suite, loss, status, limit, run_id, as_json, fmt, out_path, url, include_unverified, quiet):
    """List stored runs, newest first (win rates in %, with 95% CI)."""
    try:
        store = RunStore(url)
        if run_id is not None:
            click.echo(json.dumps(store.get(run_id), indent=2, sort_keys=True))
            return
        runs = store.list(suite=suite, loss=loss, status=status, limit=limit, include_unverified=include_unverified)
        hidden = 0 if include_unverified else store.hidden()
    except RunNotFound as e:
        click.echo(f"harness runs: {e}", err=True)
        sys.exit(1)
    except StoreError as e:
        click.echo(f"harness runs: {e}", err=True)
        sys.exit(2)
    fmt = "json" if as_json else fmt
    if fmt != "table":
        _write_table(runs, fmt, out_path)
        return
    note = (f"({hidden} unverified run(s) not listed: records made elsewhere that no board verified, or "
            "stored before verification was recorded; --include-unverified lists them)") if hidden else ""
    if not runs:
        if quiet:
            return
        click.echo(f"no runs in {store.url} match; `harness bench` or `harness submit` adds runs")
        if note:
            click.echo(note)
        return
    # every cell through clean_line: records from `submit --record` were made elsewhere
    rows = [tuple(clean_line(c) for c in (
                r.id, r.created_at.replace("T", " ")[:16], r.status if r.verified else f"{r.status} UNVERIFIED",
                r.loss_name, r.loss_sha256[:12], r.suite,
                r.seeds, "" if r.win_rate is None else f"{100 * r.win_rate:.1f}", _ci(r.win_rate_ci)))
            for r in runs]
    click.echo(tabulate(rows, headers=("id", "date (UTC)", "status", "loss", "sha256", "suite", "seeds",
                                       "win rate %", "95% CI"), disable_numparse=True))
    if note:
        click.echo(note)
