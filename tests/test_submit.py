"""`harness submit` (--record and --loss) and `harness leaderboard` on a board in a temp folder."""

from __future__ import annotations

import copy
import json
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_leaderboard_records import SUITE_CONFIG, SUITE_HASH, loss_source, make_record

import harness.leaderboard.submit as submit_mod
from harness.cli import main
from harness.leaderboard.proof import RUNNER_KEY_ENV, sign_record
from harness.store import RunStore

RUNNER_KEY = "test runner key"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A board root and a run store in tmp_path; the tiny suite's hash pinned to the factory's config.

    The sandboxed behaviour check is replaced by a double that records its calls and passes (the real
    check runs in tests/test_submit_proof.py's jail tier); the board trusts RUNNER_KEY."""
    monkeypatch.setattr(submit_mod, "current_suite_hash", lambda suite: SUITE_HASH)
    monkeypatch.setattr("harness.commands.leaderboard.current_suite_hash", lambda suite: SUITE_HASH)
    checked = []
    monkeypatch.setattr(submit_mod, "behaviour_check", lambda source, name, **kw: checked.append(name))
    monkeypatch.setenv(RUNNER_KEY_ENV, RUNNER_KEY)
    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    return types.SimpleNamespace(root=tmp_path / "boards", board=tmp_path / "boards" / "tiny", store=store,
                                 tmp=tmp_path, checked=checked)


def submit(env, *args):
    return CliRunner().invoke(main, ["submit", "--board-dir", str(env.root), "--store", env.store, *args])


def write(env, record, name="run.json", sign=True) -> str:
    """A record file as a trusted runner would send it (signed), or unsigned with ``sign=False``."""
    path = env.tmp / name
    record = {k: v for k, v in record.items() if k != "verification"}  # what a board notes, not a runner
    path.write_text(json.dumps(sign_record(record, RUNNER_KEY.encode()) if sign else record))
    return str(path)


def board_files(env) -> dict[str, bytes]:
    return {str(p.relative_to(env.board)): p.read_bytes() for p in sorted(env.board.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_record_is_verified_added_once_and_stored(env):
    out = submit(env, "--record", write(env, make_record("dpo")))
    assert out.exit_code == 0, out.output
    assert "added to the tiny board at rank 1 of 1" in out.output
    files = board_files(env)
    assert {"leaderboard.csv", "README.md", "index.html"} <= set(files) and len(files) == 4
    again = submit(env, "--record", write(env, make_record("dpo", created_at="2026-11-28T00:00:00+00:00")))
    assert again.exit_code == 0 and "already on the tiny board" in again.output
    assert board_files(env) == files  # idempotent: byte-for-byte the same board
    assert len(RunStore(env.store).list()) == 1


@pytest.mark.parametrize("tamper, reason", [
    (lambda r: r["loss"].__setitem__("sha256", "0" * 64), "does not match its embedded source"),
    (lambda r: r["suite"].__setitem__("config", {**SUITE_CONFIG, "prompts": 1}), "hashes to"),
    (lambda r: r.__setitem__("schema_version", 99), "schema_version"),
])
def test_records_that_do_not_verify_are_refused_and_change_nothing(env, tamper, reason):
    assert submit(env, "--record", write(env, make_record("ipo"))).exit_code == 0
    before = board_files(env)
    bad = copy.deepcopy(make_record("dpo"))
    tamper(bad)
    out = submit(env, "--record", write(env, bad), "--suite", "tiny")
    assert out.exit_code == 1 and "refused" in out.output and reason in out.output
    assert board_files(env) == before


def test_record_from_another_suite_config_is_refused(env):
    out = submit(env, "--record", write(env, make_record(config={**SUITE_CONFIG, "prompts": 8})))
    assert out.exit_code == 1 and f"the board's suite config is {SUITE_HASH}" in out.output
    assert not env.board.exists() or not list(env.board.rglob("*.json"))


def test_failed_run_is_listed_not_ranked_then_superseded_by_an_ok_run(env):
    out = submit(env, "--record", write(env, make_record("dpo", status="timeout")))
    assert out.exit_code == 1 and "listed under failed runs" in out.output
    shown = CliRunner().invoke(main, ["leaderboard", "--board-dir", str(env.root), "--format", "json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["entries"] == []
    assert "timeout" in (env.board / "README.md").read_text()
    assert submit(env, "--record", write(env, make_record("dpo"))).exit_code == 0
    assert not list((env.board / "failed").glob("*.json"))
    assert "Failed runs" not in (env.board / "README.md").read_text()


def test_leaderboard_formats(env):
    for name, wr in (("dpo", 0.6), ("ipo", 0.62), ("slic", 0.3)):
        assert submit(env, "--record", write(env, make_record(name, wr, 0.04), f"{name}.json")).exit_code == 0
    run = CliRunner().invoke
    base = ["leaderboard", "--board-dir", str(env.root)]
    entries = json.loads(run(main, [*base, "--format", "json"]).output)["entries"]
    assert [(e["name"], e["rank"]) for e in entries] == [("ipo", 1), ("dpo", 1), ("slic", 3)]
    assert run(main, [*base, "--format", "csv"]).output == (env.board / "leaderboard.csv").read_text()
    assert run(main, [*base, "--format", "md"]).output == (env.board / "README.md").read_text()
    assert run(main, [*base, "--format", "html"]).output == (env.board / "index.html").read_text()
    assert "3 ranked entries" in run(main, base).output and "3 ranked entries" in (env.board / "index.html").read_text()
    (env.board / "README.md").write_text("edited by hand")
    assert run(main, [*base, "--write"]).exit_code == 0
    assert "edited by hand" not in (env.board / "README.md").read_text()
    assert run(main, ["leaderboard", "--board-dir", str(env.tmp / "none")]).exit_code == 2
    assert run(main, [*base, "--format", "pdf"]).exit_code == 2


def test_submit_usage_errors_exit_2(env):
    assert submit(env).exit_code == 2
    assert submit(env, "--loss", "a.py", "--record", "b.json").exit_code == 2


def test_submit_loss_runs_the_bench_once_then_is_idempotent(env, monkeypatch):
    loss = env.tmp / "dpo.py"
    loss.write_text(loss_source("dpo"))
    calls = []

    def fake_bench_and_store(path, **kwargs):  # the real bench is exercised by the slow tier
        calls.append((Path(path).name, kwargs))
        return types.SimpleNamespace(record=make_record("dpo", seeds=tuple(range(kwargs["seeds"]))), store_error=None)

    monkeypatch.setitem(sys.modules, "harness.bench", types.SimpleNamespace(bench_and_store=fake_bench_and_store))
    out = submit(env, "--loss", str(loss), "--seeds", "2", "--quiet")
    assert out.exit_code == 0, out.output
    assert calls == [("dpo.py", {"suite": "tiny", "seeds": 2, "backend": "auto", "progress": False,
                                 "store_url": env.store})]
    again = submit(env, "--loss", str(loss))
    assert again.exit_code == 0 and "nothing was run" in again.output and len(calls) == 1
    missing = submit(env, "--loss", str(env.tmp / "nope.py"))
    assert missing.exit_code == 1 and "no such loss file" in missing.output


def test_bench_usage_errors_exit_2_and_leave_no_board(env):
    loss = env.tmp / "dpo.py"
    loss.write_text(loss_source("dpo"))
    out = submit(env, "--loss", str(loss), "--backend", "bogus")
    assert out.exit_code == 2 and "backend 'bogus'" in out.output
    assert not list(env.root.rglob("*.json"))


def test_submit_loss_passes_its_setting_to_the_bench_and_files_it_apart(env, monkeypatch):
    loss = env.tmp / "tau.py"
    loss.write_text('import torch.nn.functional as F\n\nHYPERPARAMETERS = {"tau": (0.01, 1.0)}\n\n\n'
                    "def loss(policy_chosen_logps, policy_rejected_logps, beta, tau=0.05):\n"
                    "    return -F.logsigmoid((policy_chosen_logps - policy_rejected_logps) * beta / tau)\n")
    calls = []

    def fake_bench_and_store(path, **kwargs):
        calls.append(kwargs)
        record = make_record("dpo", seeds=tuple(range(kwargs["seeds"])))
        record["loss"]["hyperparameters"] = {"tau": 0.2}
        return types.SimpleNamespace(record=record, store_error=None)

    monkeypatch.setitem(sys.modules, "harness.bench", types.SimpleNamespace(bench_and_store=fake_bench_and_store,
                                                                            BenchUsageError=ValueError))
    out = submit(env, "--loss", str(loss), "--set", "loss.tau=0.2", "--quiet")
    assert out.exit_code == 0, out.output
    assert calls[0]["overrides"] == {"loss.tau": 0.2}
    assert submit(env, "--loss", str(loss), "--set", "loss.tau=5").exit_code == 1  # outside its range: refused
    assert submit(env, "--loss", str(loss), "--set", "train.steps=3").exit_code == 2
    assert len(calls) == 1
