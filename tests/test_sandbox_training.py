"""The loss-input contract and training's own guard, on a micro-sized tiny suite (seconds).

A loss can tell `harness check` from training by what it cannot be hidden from (the number of calls),
so training guards itself: a non-finite loss, gradient or weight ends the seed as ``diverged`` with the
step, never ``error`` (the harness-fault status). And the inputs follow one contract everywhere
(harness.check_probes.INPUT_DTYPES): a loss that indexes a table by its int64 lengths trains.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness import check_probes
from harness.bench import run_bench
from harness.checks import CheckConfig
from harness.records import validate_record
from harness.session import InProcessSession

ATTACKS = Path(__file__).parent / "sandbox_attacks"
MICRO = {
    "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
    "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2,
    "eval.resamples": 100,
}  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_HOME", str(tmp_path_factory.mktemp("harness-home")))
    yield
    mp.undo()


def _bench(path, tmp_path, **kw):
    return run_bench(path, seeds=1, progress=False, overrides=MICRO, **kw)


def _check_vs_train(tmp_path, after_calls: int) -> Path:
    path = tmp_path / "check_vs_train.py"
    path.write_text((ATTACKS / "check_vs_train.py").read_text().replace("@AFTER_CALLS@", str(after_calls)))
    return path


def test_sabotage_after_the_check_is_diverged_with_its_step(home, tmp_path):
    """Honest for the first calls, then a finite loss with a 3e38 gradient: the record says
    ``diverged`` and the step, and it is a valid record (not ``error``, not a crash of bench)."""
    # check=False: training's own guard is under test (the bench's check would count calls too)
    record = _bench(_check_vs_train(tmp_path, after_calls=1), tmp_path, check=False)
    assert record["status"] == "diverged", (record["status"], record["error"])
    assert "training diverged at step 2" in record["error"], record["error"]
    validate_record(record)


def test_a_loss_that_indexes_a_table_by_length_trains(home, tmp_path):
    record = _bench(ATTACKS / "length_table.py", tmp_path)
    assert record["status"] == "ok", record["error"]


def test_training_inputs_follow_the_contract_the_check_probes(home, tmp_path, monkeypatch):
    """Every call training makes has the dtypes of INPUT_DTYPES and a dtype and batch size the check
    also probes with (B = the trainer's batch size when it is one of the check's)."""
    seen = []
    original = InProcessSession.call

    def recording(self, inputs, beta, grad=True):
        seen.append({k: (v.dtype, tuple(v.shape)) for k, v in inputs.items()})
        return original(self, inputs, beta, grad)

    monkeypatch.setattr(InProcessSession, "call", recording)
    record = _bench(ATTACKS / "length_table.py", tmp_path, backend="none", trust=True, check=False)
    assert record["status"] == "ok", record["error"]
    assert len(seen) == MICRO["train.steps"]
    probe = check_probes.behaviour_inputs(8, torch.float32, "initial", 50.0, 0)
    for call in seen:
        for name, (dtype, shape) in call.items():
            want = check_probes.INPUT_DTYPES[name]
            assert dtype == (want or torch.float32), (name, dtype)
            assert dtype == probe[name].dtype and shape == (MICRO["train.batch_size"],)
    assert "float32" in CheckConfig().dtypes and 64 in CheckConfig().batch_sizes  # tiny's default B = 64


def test_the_check_probes_the_first_training_step():
    """At step 0 the policy equals the reference; the check's "initial" regime sends exactly that."""
    assert "initial" in CheckConfig().regimes
    x = check_probes.behaviour_inputs(7, torch.float32, "initial", 50.0, 0)
    assert torch.equal(x["policy_chosen_logps"], x["reference_chosen_logps"])
    assert torch.equal(x["policy_rejected_logps"], x["reference_rejected_logps"])
    assert x["chosen_lengths"].dtype == torch.int64
