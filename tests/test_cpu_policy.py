"""The CPU policy (harness.runtime): one torch thread per training process, seeds side by side in
worker processes, as many as the CPUs this process may use; the numbers never depend on how many."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from harness import runtime


def test_cgroup_quotas_parse_and_bound_the_budget(tmp_path, monkeypatch):
    assert runtime._parse_cpu_max("150000 100000\n", "") == 1
    assert runtime._parse_cpu_max("400000 100000\n", "") == 4
    assert runtime._parse_cpu_max("max 100000\n", "") is None
    assert runtime._parse_cpu_max("garbage", "") is None
    quota = tmp_path / "cpu.cfs_quota_us"
    quota.write_text("-1\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    assert runtime._parse_cfs(quota.read_text(), str(quota)) is None
    assert runtime._parse_cfs("300000", str(quota)) == 3
    monkeypatch.setattr(runtime, "_cgroup_quota", lambda: 1)
    assert runtime.cpu_budget() == 1  # the quota bounds the affinity mask
    monkeypatch.setattr(runtime, "_cgroup_quota", lambda: None)
    assert runtime.cpu_budget() >= 1


def test_seed_processes_never_exceed_seeds_or_cpus(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_budget", lambda: 2)
    assert runtime.seed_processes(3) == 2 and runtime.seed_processes(1) == 1
    assert runtime.seed_processes(3, requested=1) == 1 and runtime.seed_processes(2, requested=8) == 2
    with pytest.raises(ValueError, match="positive"):
        runtime.seed_processes(3, requested=0)
    stated = runtime.policy(2, 1)
    assert stated["seed_processes"] == 2 and stated["torch_threads_per_process"] == 1


def test_the_defaults_are_one_thread_per_process():
    from harness.suites import SUITES
    from harness.suites.cache import BUILD_THREADS

    assert BUILD_THREADS == 1 and SUITES.get("tiny").config.train.threads == runtime.SEED_THREADS == 1


def test_only_seeds_long_enough_to_pay_for_a_process_start_run_in_processes():
    from harness.suites import SUITES

    tiny = SUITES.get("tiny")
    assert tiny.parallel_seeds  # the default suite: 128 steps x 64 pairs
    assert not tiny.with_overrides({"train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2}).parallel_seeds
    assert not SUITES.get("smol").parallel_seeds


def test_a_candidate_failure_crosses_a_process_boundary_intact():
    from harness.session import LossCallError

    e = pickle.loads(pickle.dumps(LossCallError("diverged", "training diverged at step 3: loss")))
    assert isinstance(e, LossCallError) and e.status == "diverged" and e.message.endswith("step 3: loss")


@pytest.mark.slow
@pytest.mark.jail
def test_seeds_in_two_processes_give_the_numbers_of_one(tmp_path, monkeypatch):
    """The same 3-seed run with --jobs 1 and --jobs 2: identical per-seed results and tables (with two
    workers, seeds are evaluated by whichever worker is free, from weights kept on disk); the record
    states the policy it ran under."""
    from harness.bench import run_bench
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("harness.suites.tiny.PROCESS_MIN_PAIRS", 1)  # this test-size config in processes too
    overrides = {"data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20,
                 "sft.batch_size": 16, "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8,
                 "train.checkpoint_every": 2, "eval.resamples": 100, "eval.kl_budgets": (0.002, 0.001)}
    records = [run_bench("losses/dpo.py", seeds=3, overrides=overrides, progress=False, jobs=jobs)
               for jobs in (1, 2)]
    assert [r["status"] for r in records] == ["ok", "ok"], [r["error"] for r in records]
    one, two = records
    assert one["provenance"]["hardware"]["cpu_policy"]["seed_processes"] == 1
    assert two["provenance"]["hardware"]["cpu_policy"]["seed_processes"] == 2
    assert one["outcomes"] == two["outcomes"] and one["per_seed"] == two["per_seed"]
    assert one["metrics"] == two["metrics"]


def test_step_weights_in_a_folder_give_back_what_memory_does(tmp_path):
    import torch

    from harness.suites.tiny.evaluate import StepWeights

    states = {step: {"w": torch.randn(3, 2, generator=torch.Generator().manual_seed(step)), "n": torch.tensor(step)}
              for step in range(7)}
    memory, folder = StepWeights(), StepWeights(tmp_path / "w")
    for step, state in states.items():
        memory.put(step, state)
        folder.put(step, state)
    states[3]["w"].add_(1.0)  # put() keeps a copy, not the live tensors
    assert memory.checkpoints(2) == folder.checkpoints(2) == [0, 2, 4, 6]
    for step in range(7):
        a, b = memory.get(step), folder.get(step)
        assert torch.equal(a["w"], b["w"]) and torch.equal(a["n"], b["n"])
    assert not torch.equal(memory.get(3)["w"], states[3]["w"])
    folder.clear()
    memory.clear()
    assert folder.checkpoints(1) == memory.checkpoints(1) == [] and not list((tmp_path / "w").iterdir())


@pytest.mark.slow
@pytest.mark.jail
def test_a_failing_candidate_in_worker_processes_is_its_record_and_leaves_no_weights(tmp_path, monkeypatch):
    """A loss that sabotages training after its first call (tests/sandbox_attacks/check_vs_train.py),
    3 seeds on 2 workers: the record says ``diverged`` with the step, and the scratch folder of kept
    weights is gone."""
    import tempfile

    from harness.bench import run_bench
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("harness.suites.tiny.PROCESS_MIN_PAIRS", 1)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    overrides = {"data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20,
                 "sft.batch_size": 16, "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8,
                 "train.checkpoint_every": 2, "eval.resamples": 100}
    loss = tmp_path / "check_vs_train.py"
    attack = Path(__file__).resolve().parent / "sandbox_attacks" / "check_vs_train.py"
    loss.write_text(attack.read_text().replace("@AFTER_CALLS@", "1"))
    record = run_bench(loss, seeds=3, overrides=overrides, progress=False, jobs=2, check=False)
    assert record["status"] == "diverged", (record["status"], record["error"])
    assert "training diverged at step 2" in record["error"], record["error"]
    assert record["provenance"]["hardware"]["cpu_policy"]["seed_processes"] == 2
    assert not list(scratch.glob("harness-weights-*"))
