"""`harness export RUN...`: write stored runs to TensorBoard or MLflow (optional extras; local files).

RUN is a run id (as `harness runs` prints it) or a record file. Each run exports its parameters, its
metrics per checkpoint and seed, its headline metrics, the record and its plots (harness.export).

Exit codes: 0 exported, 2 usage error, a RUN not found, or a tracker that cannot be used (its extra is
missing: the message names it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.commands.options import quiet_option
from harness.export import ExportError, export_run
from harness.specs import SpecError
from harness.store import record_of
from harness.text import clean_terminal


@click.command("export")
@click.argument("runs", nargs=-1, required=True)
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write TensorBoard event files under this log folder (view: tensorboard --logdir DIR).")
@click.option("--mlflow", "mlflow_uri",
              help="Log MLflow runs to this tracking store: a folder (a local file store) or a tracking URI.")
@click.option("--store", "store_url", help="Run store SQLAlchemy URL (run ids). Default: runs.sqlite under HARNESS_HOME.")
@quiet_option
def command(runs, tensorboard_dir, mlflow_uri, store_url, quiet):
    """Export runs (ids or record files) to TensorBoard and/or MLflow."""
    targets = [(name, dest) for name, dest in (("tensorboard", tensorboard_dir), ("mlflow", mlflow_uri)) if dest]
    if not targets:
        raise click.UsageError("give --tensorboard DIR and/or --mlflow DIR_OR_URI")
    try:
        records = []
        for spec in runs:
            found = record_of(spec, store_url)
            if found is None:
                raise SpecError(f"{spec!r} is neither a run id (`harness runs` lists them) nor a record file")
            records.append(found[0])
        for record in records:
            for name, dest in targets:
                where = export_run(record, name, dest)
                if not quiet:
                    click.echo(f"{name}: {clean_terminal(record['loss']['name'])} -> {where}")
    except (SpecError, ExportError) as e:
        click.echo(f"harness export: {clean_terminal(e)}", err=True)
        sys.exit(2)
