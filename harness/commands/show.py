"""`harness show RUN`: a run's summary, and its answers in the viewer (and in the field's formats).

RUN is a run id (as `harness runs` prints it) or a record file. The viewer page (harness.viewer) shows
per prompt the reference answer beside the policy's answer in each seed, with the judge's verdict and
reasoning; it is written to --html (default: under HARNESS_HOME/views) and its path printed.

Exit codes: 0 shown, 1 the record keeps no answers (its summary is still printed), 2 usage error or
RUN not found.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.formats import FORMATS, safe_model_id
from harness.paths import views_dir
from harness.records import RecordError, validate_record
from harness.report import render_record
from harness.specs import SpecError
from harness.store import record_of
from harness.text import clean_terminal
from harness.transcript import export_answers
from harness.viewer import NoAnswers, record_page


@click.command("show")
@click.argument("run")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the answers page [default: HARNESS_HOME/views/<loss>-<sha8>-<suite>.html].")
@click.option("--answers", "answers_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write one seed's answers and the reference answers to this folder in --answers-format "
                   "(see docs/formats.md for each layout).")
@click.option("--answers-format", type=click.Choice(FORMATS), default="alpaca_eval", show_default=True,
              help="Format of --answers.")
@click.option("--seed", type=int, help="The seed whose answers --answers writes [default: the record's first].")
@click.option("--store", "store_url", help="Run store SQLAlchemy URL. Default: runs.sqlite under HARNESS_HOME.")
@click.option("--quiet", is_flag=True, help="No summary: print only the paths written (results, warnings and errors "
              "still print).")
def command(run, html_path, answers_dir, answers_format, seed, store_url, quiet):
    """Show a stored run (RUN: a run id or a record file): its summary and its answers page."""
    try:
        found = record_of(run, store_url)
        if found is None:
            raise SpecError(f"{run!r} is neither a run id (`harness runs` lists them) nor a record file")
        record = validate_record(found[0])
    except (SpecError, RecordError) as e:
        click.echo(f"harness show: {clean_terminal(e)}", err=True)
        sys.exit(2)
    if not quiet:
        click.echo(_summary(record))
    try:
        page = record_page(record)
    except NoAnswers as e:
        click.echo(f"harness show: {clean_terminal(e)}", err=True)
        sys.exit(1)
    path = html_path or views_dir() / _page_name(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    click.echo(f"answers page: {path}")
    if answers_dir is not None:
        try:
            written = export_answers(record["answers"], answers_dir, answers_format,
                                     model=f"{record['loss']['name']}-{record['loss']['sha256'][:8]}", seed=seed)
        except ValueError as e:
            click.echo(f"harness show: {clean_terminal(e)}", err=True)
            sys.exit(2)
        click.echo("answers ({}): {}".format(answers_format, ", ".join(str(p) for p in written)))


def _summary(record: dict) -> str:
    """The bench summary of the record; its head line alone when the record lacks a field the suite's summary
    reads (a record made by another version, or elsewhere)."""
    try:
        return render_record(record)
    except (KeyError, TypeError, ValueError, IndexError):
        m = record.get("metrics") or {}
        win = m.get("win_rate")
        return (f"loss {clean_terminal(record['loss']['name'])} ({record['loss']['sha256'][:12]})  suite "
                f"{clean_terminal(record['suite']['name'])}  seeds {len(record['seeds'])}  status "
                f"{clean_terminal(record['status'])}  win rate " + ("-" if win is None else f"{100 * win:.1f}%"))


def _page_name(record: dict) -> str:
    return f"{safe_model_id(record['loss']['name'])}-{record['loss']['sha256'][:8]}-" \
           f"{safe_model_id(record['suite']['name'])}.html"
