"""Unverified records used as evidence (issue 29 item 5), and the run store's first open under a crowd
(the issue's minor item). The threat table is at the top of harness/sandbox/__init__.py.

A record added with ``--no-rerun`` is a submitter's claim. It must never decide a comparison, an
agreement between boards or a listing of runs unless asked for, and then it is labelled; a name
resolves to the verified entry first.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pytest
from click.testing import CliRunner
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from benchmarks.experiments.agreement import board as agreement_board
from harness.cli import main
from harness.leaderboard.publish import submit_record
from harness.store import RunStore

UNVERIFIED = {"verified": False, "method": "none", "note": "submitted with --no-rerun"}
CTX = multiprocessing.get_context("fork")  # children share the imported harness


@pytest.fixture
def board(tmp_path):
    """dpo and slic verified; dpo_turbo (a claim of +16 points) and a second "dpo" unverified."""
    folder = tmp_path / "tiny"
    t = outcome_tables([0.83, 0.5, 0.99, 0.2], seeds=3, prompts=64)
    for name, table, note in (("dpo", t[0], VERIFIED), ("slic", t[1], VERIFIED), ("dpo_turbo", t[2], UNVERIFIED)):
        submit_record(folder, record_with_outcomes(name, table, verified=None), suite="tiny",
                      expected_hash=SUITE_HASH, verification=note)
    impostor = record_with_outcomes("dpo", t[3], verified=None)
    impostor["loss"]["source"] += "# another dpo\n"
    impostor["loss"]["sha256"] = __import__("hashlib").sha256(impostor["loss"]["source"].encode()).hexdigest()
    submit_record(folder, impostor, suite="tiny", expected_hash=SUITE_HASH, verification=UNVERIFIED)
    return folder


def compare(*args):
    return CliRunner().invoke(main, ["compare", *args])


def test_compare_leaves_an_unverified_entry_out_unless_asked_and_then_labels_it(board):
    out = compare("dpo_turbo", "dpo", "--board", str(board))
    assert out.exit_code == 2 and "UNVERIFIED" in out.output and "--include-unverified" in out.output, out.output
    assert "better" not in out.output
    asked = compare("dpo_turbo", "dpo", "--board", str(board), "--include-unverified")
    assert asked.exit_code == 0, asked.output
    assert "dpo_turbo (UNVERIFIED) is better than dpo" in asked.output and "submitter's claim" in asked.output
    as_json = json.loads(compare("dpo_turbo", "dpo", "--board", str(board), "--include-unverified", "--json").output)
    assert (as_json["a"]["verified"], as_json["b"]["verified"]) == (False, True)


def test_a_name_resolves_to_the_verified_entry_first(board):
    """An unverified record also named "dpo" neither hijacks nor blocks `compare dpo slic`."""
    out = compare("dpo", "slic", "--board", str(board), "--json")
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    verified_dpo = next(json.loads(p.read_text()) for p in (board / "records").glob("*.json")
                        if json.loads(p.read_text())["loss"]["name"] == "dpo"
                        and json.loads(p.read_text())["verification"]["verified"])
    assert result["a"]["sha256"] == verified_dpo["loss"]["sha256"] and result["a"]["verified"]


def test_agreement_leaves_unverified_records_out(board):
    records = [json.loads(p.read_text()) for p in sorted((board / "records").glob("*.json"))]
    assert sorted(agreement_board(records).records) == ["dpo", "slic"]
    with pytest.raises(ValueError, match="two ok records for loss 'dpo'"):  # asked for: the impostor is in
        agreement_board(records, include_unverified=True)
    only_claims = [r for r in records if not r["verification"]["verified"]]
    with pytest.raises(ValueError, match="no verified ok record"):
        agreement_board(only_claims)


def test_runs_lists_unverified_records_only_when_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    store = RunStore(url)
    store.add(make_record("dpo", created_at="2026-11-27T01:00:00+00:00"))
    store.add(make_record("dpo_turbo", 0.95, created_at="2026-11-27T02:00:00+00:00"), verified=False)
    assert [r.loss_name for r in store.list()] == ["dpo"] and store.hidden() == 1
    runs = CliRunner().invoke(main, ["runs", "--store", url])
    assert "dpo_turbo" not in runs.output and "1 unverified run(s) not listed" in runs.output
    shown = CliRunner().invoke(main, ["runs", "--store", url, "--include-unverified"])
    assert "ok UNVERIFIED" in shown.output and "dpo_turbo" in shown.output
    listed = json.loads(CliRunner().invoke(main, ["runs", "--store", url, "--json"]).output)
    assert [r["loss_name"] for r in listed] == ["dpo"]


def test_runs_stored_before_verification_was_recorded_are_not_evidence(tmp_path):
    """A store made by an older harness (no ``verified`` column) is upgraded; its runs are of unknown
    provenance (a forged record could be among them), so they are listed only when asked."""
    path = tmp_path / "old.sqlite"
    record = make_record("old_claim")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, created_at VARCHAR(40), status VARCHAR(32), "
                "loss_name VARCHAR(200), loss_sha256 VARCHAR(64), suite_name VARCHAR(100), suite_config_hash "
                "VARCHAR(64), n_seeds INTEGER, win_rate FLOAT, win_rate_lo FLOAT, win_rate_hi FLOAT, error TEXT, "
                "record_json TEXT)")
    con.execute("INSERT INTO runs VALUES (1, ?, 'ok', 'old_claim', ?, 'tiny', ?, 3, 0.9, 0.8, 1.0, NULL, ?)",
                (record["created_at"], record["loss"]["sha256"], SUITE_HASH, json.dumps(record)))
    con.commit()
    con.close()
    store = RunStore(f"sqlite:///{path}")
    assert store.list() == [] and store.hidden() == 1
    assert [r.verified for r in store.list(include_unverified=True)] == [None]


def _open_and_add(url: str, i: int, barrier, results) -> None:
    barrier.wait()
    try:
        store = RunStore(url)
        store.add(make_record(f"loss{i}", created_at=f"2026-11-27T01:00:{i:02d}+00:00"))
        results.put("ok")
    except Exception as e:  # noqa: BLE001  (what failed is the result)
        results.put(f"{type(e).__name__}: {e}")


def test_forty_simultaneous_first_opens_of_a_fresh_store_all_succeed(tmp_path):
    """1 to 5 of 40 failed with "table runs already exists" before (each of 3 rounds measured): creation
    now takes turns on a lock file. Two rounds, each on a fresh store."""
    n = 40
    for round_ in range(2):
        url = f"sqlite:///{tmp_path / f'fresh{round_}' / 'runs.sqlite'}"
        barrier, results = CTX.Barrier(n), CTX.Queue()
        procs = [CTX.Process(target=_open_and_add, args=(url, i, barrier, results)) for i in range(n)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        assert outcomes == ["ok"] * n, [o for o in outcomes if o != "ok"][:3]
        assert len(RunStore(url).list(limit=100)) == n
