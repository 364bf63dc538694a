"""The real pipeline on a micro-sized tiny suite: cascade search, re-evaluation on fresh seeds, and a
transfer check on tiny with another data seed standing in for the held-out suite (smol is too costly
for a test). Seconds per bench; the jail sandbox is required."""

from __future__ import annotations

import json

import pytest

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.loop import run_discovery

MICRO = {
    "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
    "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2,
    "eval.resamples": 100, "eval.kl_budgets": [0.002, 0.001],  # budgets 4 steps reach: measured seeds
}
pytestmark = pytest.mark.slow  # builds two micro suites and trains eleven seeds: ~50 s
HELD_OUT = {**MICRO, "data.seed": 4321}  # other prompts and pairs: the stand-in "other suite"


@pytest.fixture
def home(tmp_path, monkeypatch):
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"the jail sandbox is not usable here: {reason}")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path


def test_cascade_search_then_reevaluation_and_transfer_on_tiny(home):
    cfg = DiscoveryConfig(
        out_dir=str(home / "run"), budget=3, progress=False,
        eval=EvalSettings(suite="tiny", seeds=1, evaluator="cascade", overrides=MICRO),
        finalize=FinalizeSettings(top_k=2, reeval_seeds=2, transfer_suite="tiny", transfer_top=1,
                                  transfer_seeds=2, transfer_overrides=HELD_OUT))
    result = run_discovery(cfg)
    archive = Archive(result.out_dir / "archive.sqlite")
    cands = archive.all()
    assert len(cands) == 3 and not archive.pending()
    for c in cands:  # every candidate says how far it got; a screened one has no fitness
        assert c.metrics.get("stage") in ("screen", "bench", "check"), c.metrics
        assert (c.status == "ok") == (c.fitness is not None)
        if c.status == "ok":
            assert c.metrics["screen"]["steps"] == 2 and c.metrics["seeds"] == [0]
    report = json.loads((result.out_dir / "report.json").read_text())
    assert report["finalized"] and report["fresh_seeds"] == [1, 2]
    for r in report["top"]:
        if r["reeval_win_rate"] is not None:
            rec = json.loads(open(r["record"]).read())
            assert rec["seeds"] == [1, 2] and rec["suite"]["config"]["train"]["steps"] == 4
    dpo = json.loads(open(report["dpo"]["record"]).read())
    assert dpo["seeds"] == [1, 2] and dpo["loss"]["name"] == "dpo"
    paired = [r for r in report["top"] if r["reeval_win_rate"] is not None]
    for r in report["top"]:  # a record without per-prompt outcomes is reported, never scored
        assert r["reeval_win_rate"] is not None or "outcomes" in r["reeval_note"] or "censored" in r["reeval_note"]
    assert report["transfer"] is not None and len(report["transfer"]) == min(1, len(paired))
    if not paired:
        return
    t = report["transfer"][0]
    assert t["suite"] == "tiny" and t["overrides"]["data.seed"] == 4321
    held = json.loads(open(t["record"]).read())
    assert held["suite"]["config"]["data"]["seed"] == 4321
    if t["difference"] is not None:
        assert t["difference_ci"][0] <= t["difference"] <= t["difference_ci"][1]
        assert t["transferred"] == (t["difference_ci"][0] > 0)
