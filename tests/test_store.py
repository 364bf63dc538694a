"""The run store (SQLAlchemy; SQLite here, any URL in use) and `harness runs`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_leaderboard_records import make_record

from harness.commands.runs import command as runs_command
from harness.records import RecordError
from harness.store import RunNotFound, RunStore, StoreError


@pytest.fixture
def store(tmp_path):
    s = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    yield s
    s.close()


def test_add_get_roundtrip_keeps_the_whole_record(store):
    record = make_record("dpo")
    run_id = store.add(record)
    assert store.get(run_id) == record
    assert store.add(record) == run_id and len(store.list()) == 1  # the same run is stored once
    with pytest.raises(RunNotFound, match="no run with id 999"):
        store.get(999)


def test_list_filters_and_orders_newest_first(store):
    store.add(make_record("dpo", created_at="2026-11-27T01:00:00+00:00"))
    store.add(make_record("ipo", created_at="2026-11-27T03:00:00+00:00"))
    crash_id = store.add(make_record("dpo", status="crash", created_at="2026-11-27T02:00:00+00:00"))
    assert [r.loss_name for r in store.list()] == ["ipo", "dpo", "dpo"]
    assert [r.id for r in store.list(status="crash")] == [crash_id]
    dpo = store.list(loss="dpo")
    assert len(dpo) == 2 and dpo[0].status == "crash" and dpo[0].win_rate is None and dpo[1].win_rate == 0.6
    assert [r.loss_name for r in store.list(loss=dpo[1].loss_sha256[:10])] == ["dpo", "dpo"]
    assert store.list(suite="imdb") == [] and len(store.list(limit=1)) == 1 and store.list(loss="%") == []


def test_invalid_records_are_refused_and_bad_urls_named(store, tmp_path):
    bad = make_record()
    del bad["provenance"]
    with pytest.raises(RecordError, match="provenance"):
        store.add(bad)
    with pytest.raises(StoreError, match="cannot open the run store 'nosuchdriver://x'"):
        RunStore("nosuchdriver://x")


def test_default_store_lives_under_harness_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    store = RunStore()
    store.add(make_record())
    assert (tmp_path / "home" / "runs.sqlite").is_file() and len(RunStore().list()) == 1


def test_runs_command_table_json_and_exit_codes(store):
    store.add(make_record("dpo"))
    store.add(make_record("ipo", status="timeout"))
    runner = CliRunner()
    out = runner.invoke(runs_command, ["--store", store.url])
    assert out.exit_code == 0 and "dpo" in out.output and "60.0" in out.output and "55.0 – 65.0" in out.output
    out = runner.invoke(runs_command, ["--store", store.url, "--status", "timeout", "--json"])
    assert out.exit_code == 0 and [r["loss_name"] for r in json.loads(out.output)] == ["ipo"]
    out = runner.invoke(runs_command, ["--store", store.url, "--id", "1"])
    assert out.exit_code == 0 and json.loads(out.output)["loss"]["name"] == "dpo"
    assert runner.invoke(runs_command, ["--store", store.url, "--id", "42"]).exit_code == 1
    assert runner.invoke(runs_command, ["--store", "nosuchdriver://x"]).exit_code == 2
    assert runner.invoke(runs_command, ["--limit", "0"]).exit_code == 2
