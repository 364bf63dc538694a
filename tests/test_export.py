"""Exports for the tools researchers use: `harness runs --format csv/parquet` read back with pandas, and
`harness export` to TensorBoard and MLflow, written as real local files (no server, no account) and read
back with each library's own reader. TensorBoard and MLflow are extras (scripts/setup_test_tiers.sh
installs them from locks/); without them their tests skip naming the extra."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_leaderboard_records import make_record

from harness.cli import main
from harness.export import ExportError, require
from harness.store import RunStore

HOSTILE = "=HYPERLINK(\"http://x\")<script>"


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    s = RunStore(url)
    ids = [s.add(make_record("dpo", 0.6, seeds=(0, 1))), s.add(make_record(HOSTILE, 0.45, seeds=(0, 1)))]
    s.add(make_record("broken", status="crash"))
    return url, ids


def test_runs_csv_reads_into_pandas(store):
    pd = pytest.importorskip("pandas")
    import io

    url, ids = store
    out = CliRunner().invoke(main, ["runs", "--store", url, "--format", "csv"])
    assert out.exit_code == 0, out.output
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert len(frame) == 3 and list(frame["id"]) == sorted(frame["id"], reverse=True)  # newest first, as the table
    ok = frame.set_index("id").loc[ids[0]]
    assert ok["loss"] == "dpo" and ok["win_rate"] == pytest.approx(0.6) and ok["win_rate_ci_low"] == pytest.approx(0.55)
    assert frame.set_index("id").loc[ids[1], "loss"].startswith("'=HYPERLINK")  # text, never a formula
    assert frame["status"].tolist().count("crash") == 1


def test_runs_parquet_round_trips_typed(store, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    url, ids = store
    path = tmp_path / "runs.parquet"
    out = CliRunner().invoke(main, ["runs", "--store", url, "--format", "parquet", "--out", str(path)])
    assert out.exit_code == 0, out.output
    frame = pd.read_parquet(path).set_index("id")
    assert frame.loc[ids[1], "loss"] == HOSTILE  # kept as it is: parquet cells are typed data
    assert frame.loc[ids[0], "win_rate"] == pytest.approx(0.6) and frame.loc[ids[0], "seeds"] == 2
    assert CliRunner().invoke(main, ["runs", "--store", url, "--format", "parquet"]).exit_code == 2  # needs --out


def trajectory_record():
    record = make_record("dpo", 0.6, seeds=(0, 1))
    record["metrics"]["win_rate_end"] = 0.62
    return record


def test_tensorboard_event_files_hold_the_runs_metrics_plots_and_record(tmp_path):
    require_or_skip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = tmp_path / "r.json"
    record = trajectory_record()
    path.write_text(json.dumps(record))
    out = CliRunner().invoke(main, ["export", str(path), "--tensorboard", str(tmp_path / "tb")])
    assert out.exit_code == 0, out.output
    (folder,) = (tmp_path / "tb").iterdir()
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    kl = [(e.step, e.value) for e in events.Scalars("seed_1/kl")]
    assert kl == [(p["step"], pytest.approx(p["kl"])) for p in record["per_seed"][1]["trajectory"]]
    assert events.Scalars("summary/win_rate")[0].value == pytest.approx(0.6)
    assert set(events.Tags()["images"]) == {"plots/reward_vs_kl", "plots/win_rate_vs_step"}
    assert json.loads((folder / "record.json").read_text()) == record


def test_mlflow_file_store_holds_params_metrics_record_and_plots(tmp_path):
    require_or_skip("mlflow")
    from mlflow.tracking import MlflowClient

    path = tmp_path / "r.json"
    record = trajectory_record()
    path.write_text(json.dumps(record))
    out = CliRunner().invoke(main, ["export", str(path), "--mlflow", str(tmp_path / "mlruns")])
    assert out.exit_code == 0, out.output
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("harness-tiny").experiment_id])
    assert run.data.params["loss.name"] == "dpo" and run.data.params["beta"] == "0.1"
    assert run.data.tags["harness.loss_sha256"] == record["loss"]["sha256"] and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "seed_0/reward")
    assert [(m.step, m.value) for m in history] == [(p["step"], pytest.approx(p["reward"]))
                                                    for p in record["per_seed"][0]["trajectory"]]
    assert run.data.metrics["summary/win_rate"] == pytest.approx(0.6)
    names = {a.path for a in client.list_artifacts(run.info.run_id)} | {
        a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"record.json", "plots/reward_vs_kl.png", "plots/win_rate_vs_step.png"} <= names


def test_each_hyperparameter_setting_exports_as_its_own_run():
    from harness.export.series import series_of
    from harness.hyperparams import settings_key

    plain = series_of(trajectory_record())
    records = []
    for tau in (0.1, 0.2):
        record = trajectory_record()
        record["loss"]["hyperparameters"] = {"tau": tau}
        records.append(series_of(record))
    assert "loss.hyperparameters.tau" not in plain.params
    assert [r.params["loss.hyperparameters.tau"] for r in records] == ["0.1", "0.2"]
    assert len({plain.name, *(r.name for r in records)}) == 3  # one tracker run (folder) per board entry
    assert settings_key({"tau": 0.1}) in records[0].name


def test_a_missing_tracker_library_names_its_extra():
    with pytest.raises(ExportError, match=r"pip install 'harness\[nope\]'"):
        require("harness_no_such_module", "nope")


def test_export_takes_run_ids_and_refuses_unknown_ones(store, tmp_path):
    require_or_skip("tensorboard")
    url, ids = store
    out = CliRunner().invoke(main, ["export", str(ids[0]), "--store", url, "--tensorboard", str(tmp_path / "tb")])
    assert out.exit_code == 0 and "dpo" in out.output
    bad = CliRunner().invoke(main, ["export", "77", "--store", url, "--tensorboard", str(tmp_path / "tb")])
    assert bad.exit_code == 2 and "no run 77" in bad.output
    assert CliRunner().invoke(main, ["export", str(ids[0])]).exit_code == 2  # no tracker named


def require_or_skip(module: str) -> None:
    try:
        require(module, module)
    except ExportError as e:
        pytest.skip(f"{e} (scripts/setup_test_tiers.sh installs it)")
