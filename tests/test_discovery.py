"""Discovery loop with the fake evaluator (fast): statuses, dedupe, resume, outputs, budgets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.dedupe import code_key
from harness.discovery.loop import DiscoveryError, run_discovery
from harness.discovery.proposer import Proposal, ProposerError
from harness.lossfile import parse_loss_source

DPO = textwrap.dedent("""\
    import torch.nn.functional as F

    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
        logits = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
        return -F.logsigmoid(beta * logits)
    """)
# Same loss: other local names, a comment, a docstring, another function name.
DPO_TWIN = textwrap.dedent('''\
    """Twin."""
    import torch.nn.functional as F

    def my_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
        # the margin
        m = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
        return -F.logsigmoid(beta * m)
    ''')


def variant(k: float, marker: str = "") -> str:
    return DPO.replace("beta * logits", f"beta * logits * {k}") + (f"# fake-status: {marker}\n" if marker else "")


class ScriptedProposer:
    """Test double: plays a list of proposals, then raises ProposerError (search exhausted)."""

    def __init__(self, proposals):
        self.proposals = list(proposals)
        self.calls = 0

    def propose(self, archive):
        self.calls += 1
        if not self.proposals:
            raise ProposerError("script exhausted")
        return self.proposals.pop(0)


def config(tmp_path, **kw) -> DiscoveryConfig:
    eval_kw = {k: kw.pop(k) for k in ("fake_seconds",) if k in kw}
    return DiscoveryConfig(out_dir=str(tmp_path / "run"), progress=False,
                           eval=EvalSettings(evaluator="fake", **eval_kw), **kw)


def test_loop_records_every_status_and_writes_outputs(tmp_path):
    script = [
        Proposal(DPO, "dpo"),
        Proposal(variant(2.0, "timeout"), "slow"),
        Proposal("def loss(policy_chosen_logps:\n", "broken"),
        Proposal(DPO_TWIN, "twin", (1,)),
        Proposal("", "unparsed_reply", error="reply is not valid JSON: Expecting value"),
        Proposal(variant(3.0, "sandbox_violation"), "escape", (1,)),
        Proposal(variant(0.5, "ok"), "half", (1,)),
    ]
    result = run_discovery(config(tmp_path, budget=10, parallel=2), proposer=ScriptedProposer(script))
    assert result.proposer_failed and "script exhausted" in result.stop_reason
    archive = Archive(result.out_dir / "archive.sqlite")
    by_name = {c.name: c for c in archive.all()}
    assert by_name["dpo"].status == "ok" and by_name["dpo"].fitness is not None
    assert by_name["slow"].status == "timeout" and by_name["slow"].fitness is None
    assert by_name["broken"].status == "invalid" and "syntax error" in by_name["broken"].error
    assert by_name["twin"].status == "duplicate" and by_name["twin"].duplicate_of == by_name["dpo"].id
    assert by_name["unparsed_reply"].status == "invalid" and "not valid JSON" in by_name["unparsed_reply"].error
    assert by_name["escape"].status == "sandbox_violation"
    assert by_name["half"].status == "ok" and by_name["half"].parent_ids == (by_name["dpo"].id,)
    assert by_name["half"].generation == 1
    assert result.candidates == 6  # the duplicate is not counted against the budget
    assert not archive.pending()

    lines = [json.loads(x) for x in (result.out_dir / "candidates.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [c.id for c in archive.all()]
    assert {x["status"] for x in lines} == {"ok", "timeout", "invalid", "duplicate", "sandbox_violation"}
    assert all(x["fitness"] is None for x in lines if x["status"] != "ok")
    assert all(set(x) >= {"id", "parent_ids", "sha256", "status", "fitness"} for x in lines)

    best = archive.best()
    text = (result.out_dir / "best_loss.py").read_text()
    assert f"#{best.id} {best.name}" in text and f"{best.fitness:.4f}" in text
    parse_loss_source(text)  # the best loss is a ready-to-use loss file
    report = (result.out_dir / "report.md").read_text()
    assert "timeout" in report and "sandbox_violation" in report and f"{best.fitness:.4f}" in report
    assert (result.out_dir / "fitness.png").stat().st_size > 5000
    assert (result.out_dir / "candidates" / f"{best.id:05d}.py").read_text() == best.code


def test_dedupe_normalises_names_comments_and_constants():
    assert code_key(DPO) == code_key(DPO_TWIN)
    assert code_key(variant(2.0)) != code_key(DPO)
    assert code_key(variant(2.0)) == code_key(variant(2.0001))
    assert code_key("def loss(:") != code_key("def loss(x:")  # unparsable code still hashes


def test_budget_counts_failures_and_stops(tmp_path):
    script = [Proposal(variant(1 + i / 10, "crash" if i % 2 else ""), f"c{i}") for i in range(10)]
    proposer = ScriptedProposer(script)
    result = run_discovery(config(tmp_path, budget=4, parallel=2), proposer=proposer)
    assert result.stop_reason == "budget of 4 candidates reached" and result.candidates == 4
    assert proposer.calls == 4  # no proposal requested beyond the budget


def test_cost_and_wall_limits_stop_cleanly(tmp_path):
    script = [Proposal(variant(1 + i / 10), f"c{i}", cost=0.4) for i in range(10)]
    result = run_discovery(config(tmp_path, budget=10, max_cost=1.0), proposer=ScriptedProposer(script))
    assert "cost limit" in result.stop_reason
    assert 3 <= result.candidates <= 3 + 2  # in-flight proposals (lookahead) may finish after the cap
    script = [Proposal(variant(1 + i / 10), f"c{i}") for i in range(50)]
    t0 = time.monotonic()
    result = run_discovery(config(tmp_path / "w", budget=50, max_wall_s=1.0, fake_seconds=0.3),
                           proposer=ScriptedProposer(script))
    assert "wall-time" in result.stop_reason and time.monotonic() - t0 < 20
    assert result.candidates < 50


def test_resume_collects_finished_results_and_evaluates_the_rest(tmp_path):
    cfg = config(tmp_path, budget=3)
    out = Path(cfg.out_dir)
    # Simulate a kill: three pending rows, one worker had written its result file.
    from harness.discovery.loop import open_archive

    archive = open_archive(cfg, resume=False)
    ids = [archive.add(parent_ids=(), proposer="evolve", name=f"c{i}", code=variant(1 + i), sha256="x",
                       code_key=code_key(variant(1 + i))) for i in range(3)]
    archive.close()
    (out / "results").mkdir(parents=True)
    (out / "results" / f"{ids[0]:05d}.json").write_text(json.dumps(
        {"status": "ok", "error": None, "fitness": 0.999, "metrics": {}, "seconds": 1.0, "behaviour_key": None}))
    proposer = ScriptedProposer([])
    result = run_discovery(cfg, resume=True, proposer=proposer)
    archive = Archive(out / "archive.sqlite")
    assert archive.get(ids[0]).fitness == 0.999  # the finished result was kept, not recomputed
    assert all(c.status != "pending" for c in archive.all()) and archive.count() == 3
    assert proposer.calls == 0 and result.stop_reason.startswith("budget")
    assert sorted(p.name for p in (out / "results").iterdir()) == [f"{i:05d}.json" for i in ids]


def test_resume_refuses_wrong_use(tmp_path):
    with pytest.raises(DiscoveryError, match="no archive"):
        run_discovery(config(tmp_path), resume=True, proposer=ScriptedProposer([]))
    run_discovery(config(tmp_path, budget=1), proposer=ScriptedProposer([Proposal(DPO, "dpo")]))
    with pytest.raises(DiscoveryError, match="already holds"):
        run_discovery(config(tmp_path), proposer=ScriptedProposer([]))
    with pytest.raises(DiscoveryError, match="different search settings"):
        run_discovery(config(tmp_path, seed=7), resume=True, proposer=ScriptedProposer([]))


KILL_SCRIPT = """
import sys
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.loop import run_discovery
if __name__ == "__main__":
    cfg = DiscoveryConfig(out_dir=sys.argv[1], budget=int(sys.argv[2]), parallel=2, progress=False,
                          eval=EvalSettings(evaluator="fake", fake_seconds=float(sys.argv[3])))
    run_discovery(cfg, resume=sys.argv[4] == "resume")
"""


def _done_rows(db: Path) -> dict:
    con = sqlite3.connect(db)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT id, status, fitness, evaluated_at FROM candidates WHERE status != 'pending'")}
    finally:
        con.close()


def test_kill_minus_9_then_resume_keeps_every_candidate_once(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "14", "0.4", "new"])
    jsonl = out / "candidates.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [x for x in (jsonl.read_text().splitlines() if jsonl.exists() else []) if '"pending"' not in x]
        if len(done) >= 6:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = _done_rows(out / "archive.sqlite")
    assert 0 < len(before) < 14
    subprocess.run([sys.executable, str(script), str(out), "14", "0.0", "resume"], check=True, timeout=120)
    after = _done_rows(out / "archive.sqlite")
    for cid, row in before.items():
        assert after[cid] == row  # completed evaluations are neither lost nor repeated
    archive = Archive(out / "archive.sqlite")
    cands = archive.all()
    assert archive.count() == 14 and not archive.pending()
    assert len({c.code_key for c in cands if c.status != "duplicate"}) == len([c for c in cands if c.status != "duplicate"])
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == [c.id for c in cands]


def test_harness_errors_in_a_row_stop_the_run(tmp_path):
    script = [Proposal(variant(1 + i / 10, "error"), f"c{i}") for i in range(10)]
    result = run_discovery(config(tmp_path, budget=10), proposer=ScriptedProposer(script))
    assert result.harness_failed and "failed in the harness" in result.stop_reason
    assert result.status_counts.get("error", 0) <= 3 + 1  # at most the lookahead proposal on top


def test_behavioural_duplicates_are_not_evaluated(tmp_path):
    script = [Proposal(variant(1.0, "ok") + "# fake-behaviour: same\n", "first"),
              Proposal(variant(5.0, "ok") + "# fake-behaviour: same\n", "twin"),
              Proposal(variant(9.0, "ok") + "# fake-behaviour: other\n", "third")]
    cfg = DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=2, progress=False,
                          eval=EvalSettings(evaluator="fake", behavioural_dedupe=True))
    result = run_discovery(cfg, proposer=ScriptedProposer(script))
    by_name = {c.name: c for c in Archive(result.out_dir / "archive.sqlite").all()}
    assert by_name["twin"].status == "duplicate" and by_name["twin"].duplicate_of == by_name["first"].id
    assert by_name["twin"].fitness is None and "behaves like" in by_name["twin"].error
    assert by_name["third"].status == "ok" and result.candidates == 2  # the twin did not use the budget


def test_cli_exit_codes(tmp_path):
    from click.testing import CliRunner

    from harness.cli import main

    out = str(tmp_path / "run")
    args = ["discover", "--evaluator", "fake", "--budget", "3", "--out", out, "--quiet"]
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "budget of 3 candidates reached" in ok.output and "best: #" in ok.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "pass --resume" in again.output
    assert CliRunner().invoke(main, ["discover", "--resume"]).exit_code == 2
    typo = CliRunner().invoke(main, ["discover", "--proposer", "evolv", "--out", str(tmp_path / "x")])
    assert typo.exit_code == 2 and "Did you mean 'evolve'" in typo.output and not (tmp_path / "x").exists()


def test_workers_share_the_cores_instead_of_oversubscribing(monkeypatch):
    """K local workers get one torch thread each (the CPU policy, harness.runtime), which is the suite's
    own train.threads: every evaluation runs exactly the board's suite config; an explicit count other
    than the suite's is an override that changes the config hash, never the built cache."""
    from harness.discovery.config import EvalSettings
    from harness.discovery.evaluator import thread_overrides
    from harness.discovery.pools import LocalExecutor
    from harness.suites import get_suite

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    suite_threads = get_suite("tiny").config.train.threads
    two = LocalExecutor(EvalSettings(evaluator="fake"), parallel=2)
    one = LocalExecutor(EvalSettings(evaluator="fake"), parallel=1)
    try:
        assert two.settings.threads == one.settings.threads == suite_threads == 1
        assert thread_overrides(two.settings) == thread_overrides(one.settings) == {}
        assert thread_overrides(EvalSettings(evaluator="fake", threads=2)) == {"train.threads": 2}
        # the override changes the config hash, never the built cache
        suite = get_suite("tiny")
        assert suite.with_overrides({"train.threads": 2}).build_hash() == suite.build_hash()
        assert suite.with_overrides({"train.threads": 2}).config_hash() != suite.config_hash()
    finally:
        two.shutdown()
        one.shutdown()


def test_report_and_best_loss_make_proposer_text_inert(tmp_path):
    """Names, operators and error text come from the proposer and the loss: in report.md they are
    escaped Markdown (no link, no table break, no escape sequence), in best_loss.py one comment line."""
    from harness.discovery.outputs import write_best, write_report

    archive = Archive(tmp_path / "archive.sqlite")
    evil = "x | [click](http://e.vil) \x1b]52;c;aGk=\x07\nimport os; os.system('id')"
    ok = archive.add(parent_ids=(), proposer="scripted", name=evil, code=DPO, sha256="a" * 64,
                     code_key=code_key(DPO), meta={"operator": "mutate`|<b>"})
    archive.complete(ok, status="ok", error=None, fitness=0.5, metrics={"seeds": [0]})
    bad = archive.add(parent_ids=(), proposer="scripted", name="b", code=DPO, sha256="b" * 64, code_key="k")
    archive.complete(bad, status="invalid", error="Traceback\nValueError: `x` | \x1b[2J[link](http://e.vil)",
                     fitness=None, metrics={})
    cfg = DiscoveryConfig(out_dir=str(tmp_path), progress=False, eval=EvalSettings(evaluator="fake"))
    report = write_report(archive, tmp_path, cfg, "done").read_text()
    assert "\x1b" not in report and "\x07" not in report
    assert "](http" not in report and "<b>" not in report
    row = next(line for line in report.splitlines() if line.startswith(f"| {ok} |"))
    assert row.count(" | ") == 5  # the name's pipe did not add a column
    assert "ValueError: \\`x\\` \\|" in report  # the error's last line, escaped
    best = write_best(archive, tmp_path, cfg).read_text()
    header = best[: best.index(DPO)]
    assert all(line.startswith("#") or not line.strip() for line in header.splitlines())
    assert "\x1b" not in best
    parse_loss_source(best)


def test_a_censored_bench_is_unmeasured_with_its_reason_never_a_crash_or_a_score(tmp_path, monkeypatch):
    """A bench that ends ok but whose gate metric is null (every seed censored: the policy never
    reached the KL budget) completes as ``unmeasured``: no fitness, a reason, kept in the archive."""
    import harness.bench
    from harness.discovery.archive import UNMEASURED, Archive
    from harness.discovery.config import EvalSettings
    from harness.discovery.evaluator import BenchEvaluator

    class Run:
        run_id, path = "r1", tmp_path / "r.json"
        record = {"status": "ok", "error": None, "seeds": [0], "suite": {"name": "tiny"}, "beta": 0.1,
                  "check": {"valid": True, "seconds": 0.1},
                  "metrics": {"win_rate": None, "win_rate_ci": None, "measured_seeds": 0, "censored_seeds": 1,
                              "unresolved_seeds": 0,
                              "verdict": "not measured: no seed has a measured value at the KL budget"}}

    monkeypatch.setattr(harness.bench, "bench_and_store", lambda *a, **k: Run())
    result = BenchEvaluator(EvalSettings(suite="tiny"), tmp_path).evaluate(tmp_path / "c.py")
    assert result.status == UNMEASURED and result.fitness is None
    assert "censored_seeds=1" in result.error and "KL budget" in result.error
    archive = Archive(tmp_path / "a.sqlite")
    cid = archive.add(parent_ids=(), proposer="t", name="c", code="x = 1\n", sha256="0" * 64, code_key="k")
    assert archive.complete(cid, status=result.status, error=result.error, fitness=None, metrics=result.metrics)
    assert archive.get(cid).status == UNMEASURED and archive.best() is None
    with pytest.raises(ValueError, match="no fitness"):
        from harness.discovery.evaluator import EvalResult
        EvalResult(UNMEASURED, "why", fitness=0.5)
