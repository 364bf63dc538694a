"""A run as an MLflow run: experiment ``harness-<suite>``, run name ``<loss>-<sha8>-<suite>``, the
parameters (loss, suite config, beta, seeds), the metrics per seed and step and the summary at the last
step, the record (``record.json``) and the plots as artifacts, and tags for the loss and the suite.

The destination is an MLflow tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``); a plain folder
becomes a local file store (``file:`` URI), which needs no server or database (``mlflow ui
--backend-store-uri DIR`` shows it). MLflow 3 keeps that store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE`` is set, which this writer does for a folder it is given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.export import ExportError, require
from harness.export.series import figures, series_of


def tracking_uri(destination: str | Path) -> str:
    text = str(destination)
    if "://" in text or text.startswith("file:"):
        return text
    folder = Path(text).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return folder.as_uri()


def write_mlflow(record: dict, destination: str | Path) -> str:
    require("mlflow", "mlflow")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    series = series_of(record)
    client = MlflowClient(tracking_uri=tracking_uri(destination))
    name = f"harness-{record['suite']['name']}"
    try:
        found = client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else client.create_experiment(name)
        run = client.create_run(experiment, run_name=series.name,
                                tags={"harness.loss": series.params["loss.name"],
                                      "harness.loss_sha256": record["loss"]["sha256"],
                                      "harness.suite": record["suite"]["name"], "harness.status": record["status"]})
    except Exception as e:  # an unreachable server, a read-only folder: the destination is unusable
        raise ExportError(f"cannot open the MLflow tracking store {destination}: {e}") from None
    run_id = run.info.run_id
    stamp = 0
    metrics = [Metric(tag, value, stamp, step) for tag, step, value in series.scalars]
    metrics += [Metric(f"summary/{k}", v, stamp, series.last_step) for k, v in series.summary.items()]
    params = [Param(k, v) for k, v in series.params.items()]
    for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters and 1000 metrics a batch
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900])
    client.set_tag(run_id, "harness.exported_by", "harness export")
    client.log_dict(run_id, json.loads(series.record_json), "record.json")
    for fig_name, fig in figures(record).items():
        client.log_figure(run_id, fig, f"plots/{fig_name}.png")
    client.set_terminated(run_id, "FINISHED" if record["status"] == "ok" else "FAILED")
    return f"{client.tracking_uri} run {run_id}"
