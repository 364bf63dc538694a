"""Attacks on discovery's bookkeeping (issue 29 items 6 and 11). The threat table is at the top of
harness/sandbox/__init__.py ("published results").

6. A container's result is untrusted: a fitness it writes, a record path it names, a key it adds must
   not reach the archive or the run store unchecked; the status and fitness are recomputed here.
11. Two different losses must not be merged as "the same function" because they agree at rho = 0.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from test_leaderboard_records import make_record

from harness.checks import CheckConfig, CheckReport, _diagnostics
from harness.discovery.config import EvalSettings
from harness.discovery.containers import DockerExecutor, evaluate_in_container
from harness.discovery.evaluator import behaviour_key_of
from harness.discovery.pools import Job
from harness.executors.container_runner import GpuPool, JobRun
from harness.lossfile import load_loss, read_loss
from harness.paths import builtin_losses_dir
from harness.session import InProcessSession
from harness.store import RunStore
from harness.suites import get_suite

SETTINGS = EvalSettings(suite="tiny", seeds=1, threads=1)


def tiny_record(win_rate: float = 0.31) -> dict:
    """A bench record of the tiny suite's real config, seeds and judge, consistent with itself."""
    suite = get_suite("tiny")
    record = make_record("cand", win_rate, seeds=tuple(suite.seed_list(1)), verified=None)
    record["suite"] = {"name": "tiny", "config_hash": suite.config_hash(), "config": suite.config.as_dict()}
    record["judge"] = {"id": suite.config.judge, "hash": "0" * 16}
    record["beta"] = suite.config.beta
    return record


class Runner:
    """A container runner double: writes ``files`` into the job's output folder and reports ``evaluation``."""

    identity = {"id": "sha256:test"}

    def __init__(self, evaluation: dict, files: dict[str, str] | None = None):
        self.evaluation, self.files = evaluation, files or {}

    def run(self, spec, data, folder, gpus=None):
        for rel, text in self.files.items():
            path = Path(folder) / "out" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return JobRun("ok", None, 0, 1.0, result={"status": "ok", "evaluation": self.evaluation}, image=self.identity)


def evaluation(**kw) -> dict:
    base = {"status": "ok", "error": None, "fitness": 1e9, "seconds": 3.0, "behaviour_key": None,
            "duplicate_of": None, "metrics": {"stage": "bench", "record_path": "/out/runs/cand/r.json"}}
    return {**base, **kw}


def run(tmp_path, ev, files=None) -> dict:
    return evaluate_in_container(SETTINGS, b"# loss", tmp_path / "job", None, runner=Runner(ev, files),
                                 pool=GpuPool([], 1))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def test_the_fitness_comes_from_the_checked_record_not_the_containers_word(tmp_path):
    """fitness 1e9 became the archive's best: now the fitness is the record's win rate, recomputed here."""
    data = run(tmp_path, evaluation(), {"runs/cand/r.json": json.dumps(tiny_record(0.31))})
    assert data["status"] == "ok" and data["fitness"] == pytest.approx(0.31)
    assert data["metrics"]["run_id"] is not None and data["metrics"]["image"] == "sha256:test"


@pytest.mark.parametrize("label, edit, needle", [
    ("a record path out of the job folder", lambda ev, r: ev["metrics"].update(record_path="/out/../../../etc/passwd"),
     "outside its output folder"),
    ("an absolute host path", lambda ev, r: ev["metrics"].update(record_path="/etc/passwd"), "not one under /out/"),
    ("an unexpected key", lambda ev, r: ev.update(exploit=True), "unexpected keys"),
    ("ok without a record", lambda ev, r: ev["metrics"].pop("record_path"), "without the record"),
    ("a headline the record contradicts", lambda ev, r: r["metrics"].update(win_rate=0.99, win_rate_ci=[0.98, 1.0]),
     "metrics.win_rate"),
    ("another suite config", lambda ev, r: r["suite"]["config"].update(prompts_note="x"), "hashes to"),
    ("other seeds", lambda ev, r: (r.update(seeds=[7]), r["per_seed"][0].update(seed=7)), "seeds [7]"),
    ("another judge", lambda ev, r: r["judge"].update(id="llm"), "judge 'llm'"),
    ("a duplicate it cannot know of", lambda ev, r: ev.update(status="duplicate", duplicate_of=1), "duplicate"),
])
def test_a_container_result_that_breaks_the_contract_is_the_candidates_failure(tmp_path, label, edit, needle):
    ev, record = evaluation(), tiny_record()
    edit(ev, record)
    store_before = len(RunStore().list(include_unverified=True))
    data = run(tmp_path, ev, {"runs/cand/r.json": json.dumps(record)})
    assert data["status"] == "sandbox_violation" and data["fitness"] is None, data
    assert needle in data["error"], data["error"]
    assert len(RunStore().list(include_unverified=True)) == store_before  # nothing reached the run store


def test_resume_checks_a_finished_jobs_result_the_same_way(tmp_path, monkeypatch):
    """A result.json left by a finished container is re-read on --resume: through the same checks."""
    monkeypatch.setattr("harness.discovery.containers.reap_orphans", lambda: [])

    class Containers:
        def runner(self, data, models):
            return Runner({})

        def pool(self):
            return GpuPool([], 1)

    executor = DockerExecutor(SETTINGS, 1, Containers(), tmp_path)
    folder = tmp_path / "jobs" / "00001" / "out"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"status": "ok", "evaluation": evaluation(extra=1)}))
    try:
        data = executor._run(Job(1, "c.py", None, str(tmp_path), b"# loss"))
    finally:
        executor.shutdown()
    assert data["status"] == "sandbox_violation" and "unexpected keys" in data["error"]


# --------------------------------------------------------------------------- class 11: twins

EXP_AS_DPO = """import math

import torch


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    # exponential, scaled to DPO's value (log 2) and slope (-beta / 2) at rho = 0
    return math.log(2) * torch.exp(-beta * rho / (2 * math.log(2)))
"""
DPO_REWRITTEN = """import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    margin = beta * ((policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps))
    return F.softplus(-margin)  # = -log sigmoid(margin): DPO written another way
"""


def key_of(path: Path) -> str:
    """The behaviour key as discovery computes it: from `harness check`'s diagnostics (in process here:
    trusted built-ins and test files)."""
    report = CheckReport(path=str(path), name=path.stem)
    _diagnostics(InProcessSession(load_loss(read_loss(path))), CheckConfig(), report)
    return behaviour_key_of(report.diagnostics)


def test_an_exponential_loss_scaled_to_dpo_at_zero_is_not_dpos_twin(tmp_path):
    dpo = builtin_losses_dir() / "dpo.py"
    (tmp_path / "exp_as_dpo.py").write_text(EXP_AS_DPO)
    (tmp_path / "dpo_rewritten.py").write_text(DPO_REWRITTEN)
    x = 0.0  # the attack holds: same value and slope at rho = 0
    assert math.isclose(math.log(2) * math.exp(-x), math.log(1 + math.exp(-x)))
    assert key_of(tmp_path / "exp_as_dpo.py") != key_of(dpo)
    assert key_of(tmp_path / "dpo_rewritten.py") == key_of(dpo)  # the same function still merges


def test_distinct_standard_losses_get_distinct_behaviour_keys():
    paths = sorted(builtin_losses_dir().glob("*.py")) + sorted((builtin_losses_dir() / "controls").glob("*.py"))
    keys = {p.stem: key_of(p) for p in paths}
    assert None not in keys.values() and len(keys) >= 20
    same = {}
    for name, key in keys.items():
        same.setdefault(key, []).append(name)
    assert all(len(names) == 1 for names in same.values()), [n for n in same.values() if len(n) > 1]


def test_a_record_copy_is_not_a_different_result():
    record = tiny_record()
    assert copy.deepcopy(record) == record  # (the fixtures above edit copies only)
