"""Per-token and hyper-parameter losses through training (harness.train's per-token path), in the jail,
on micro-sized suites: a per-token loss that reduces to DPO gives DPO's record; every per-token built-in
and a hyper-parameter setting train on tiny and on smol; a board keeps one entry per setting."""

from __future__ import annotations

import math

import pytest
from test_sandbox_training import MICRO, home  # noqa: F401  (the micro tiny config and its HARNESS_HOME)
from test_smol_suite import tiny_smol  # noqa: F401  (SmolLM2's tokenizer on a tiny random Llama)

from harness.bench import run_bench
from harness.records import validate_record

pytestmark = pytest.mark.slow
# a KL budget the micro run reaches, so that the verdict is measured (not censored) and can be compared
MEASURED = {**MICRO, "eval.kl_budgets": [0.2, 0.1]}

TOKEN_DPO = '''import torch.nn.functional as F


def loss(policy_chosen_token_logps, policy_rejected_token_logps, chosen_token_mask, rejected_token_mask,
         reference_chosen_token_logps, reference_rejected_token_logps, beta):
    """DPO, written on per-token inputs: sums of the masked per-token log-ratios."""
    chosen = ((policy_chosen_token_logps - reference_chosen_token_logps) * chosen_token_mask).sum(-1)
    rejected = ((policy_rejected_token_logps - reference_rejected_token_logps) * rejected_token_mask).sum(-1)
    return -F.logsigmoid(beta * (chosen - rejected))
'''


def _numbers(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{prefix}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{prefix}[{i}]")
    elif isinstance(value, float):
        yield prefix, value


@pytest.mark.timeout(600)
def test_a_per_token_loss_that_reduces_to_dpo_gives_dpos_record(home, tmp_path):  # noqa: F811
    """The same policy gradient through the per-token path (TRL's per-token log-probs laid out per
    completion, the reference per token from the frozen initial policy) as through the sequence path:
    the records agree to float rounding (the sums are taken in another order, so not bit for bit)."""
    path = tmp_path / "token_dpo.py"
    path.write_text(TOKEN_DPO)
    dpo = run_bench("losses/dpo.py", seeds=1, progress=False, overrides=MEASURED)
    ours = run_bench(path, seeds=1, progress=False, overrides=MEASURED)
    assert dpo["status"] == ours["status"] == "ok", ours["error"]
    assert dpo["metrics"]["measured_seeds"] == ours["metrics"]["measured_seeds"] == 1
    expected, got = dict(_numbers(dpo["per_seed"])), dict(_numbers(ours["per_seed"]))
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=1e-4, abs_tol=1e-5), (key, value, got[key])
    assert ours["metrics"]["win_rate"] == pytest.approx(dpo["metrics"]["win_rate"], abs=1e-5)
    for theirs, mine in zip(dpo["outcomes"]["tables"]["verdict"], ours["outcomes"]["tables"]["verdict"], strict=True):
        assert mine == pytest.approx(theirs, abs=1e-3)  # per-prompt scores, rounded to 4 decimals


@pytest.mark.timeout(900)
def test_per_token_builtins_and_settings_train_on_tiny_and_get_their_own_entries(home, tmp_path):  # noqa: F811
    from harness.leaderboard.board import build_board
    from harness.leaderboard.verify import record_filename

    records = {}
    for name, settings in (("wpo", {}), ("sampo", {}), ("tdpo", {"loss.alpha": 1.0}), ("ld_dpo", {}),
                           ("ld_dpo", {"loss.ld_alpha": 0.25})):
        record = run_bench(f"losses/{name}.py", seeds=2, progress=False, overrides={**MEASURED, **settings})
        assert record["status"] == "ok", (name, record["error"])
        assert record["check"]["valid"], record["check"]
        validate_record(record)
        records[(name, tuple(settings.values()))] = record
    assert records[("ld_dpo", (0.25,))]["loss"]["hyperparameters"] == {"ld_alpha": 0.25}
    assert records[("ld_dpo", ())]["loss"]["hyperparameters"] == {"ld_alpha": 0.5}
    assert records[("tdpo", (1.0,))]["loss"]["hyperparameters"] == {"alpha": 1.0}
    assert "hyperparameters" not in records[("wpo", ())]["loss"]
    assert records[("ld_dpo", (0.25,))]["per_seed"] != records[("ld_dpo", ())]["per_seed"]  # the setting acts
    from harness.seal import seal

    sealed = [seal(r, {"verified": True, "method": "local", "note": "benchmarked here"}) for r in records.values()]
    pairs = [(f"records/{record_filename(r)}", r) for r in sealed]
    board = build_board("tiny", records[("wpo", ())]["suite"]["config_hash"], pairs)
    assert not board.rejected, board.rejected  # every record passes the board's full checks on load
    names = sorted(e.name for e in (*board.entries, *board.apart))
    assert names == ["ld_dpo [ld_alpha=0.25]", "ld_dpo [ld_alpha=0.5]", "sampo", "tdpo [alpha=1]", "wpo"]
    assert len({e.key for e in (*board.entries, *board.apart)}) == 5


@pytest.mark.timeout(900)
def test_per_token_and_hyper_parameter_losses_train_on_smol(tiny_smol, tmp_path):  # noqa: F811
    """LD-DPO at a setting (fused head, reference per token) and TDPO (the full-vocabulary KL path, here
    SmolLM2's 49k-token vocabulary) through the smol pipeline: train, generate, judge, record."""
    from harness.bench import bench_and_store

    overrides = {"data.train_prompts": 24, "data.eval_prompts": 6, "pair_generation.max_new_tokens": 32,
                 "pair_generation.batch_size": 24, "eval_generation.max_new_tokens": 16, "train.steps": 2,
                 "train.batch_size": 2, "train.warmup_steps": 0}
    for name, settings in (("ld_dpo", {"loss.ld_alpha": 0.25}), ("tdpo", {})):
        run = bench_and_store(f"losses/{name}.py", suite="smol", seeds=1, progress=False,
                              out_dir=tmp_path / "runs", overrides={**overrides, **settings})
        record = run.record
        assert record["status"] == "ok", (name, record["error"])
        assert record["suite"]["name"] == "smol" and record["metrics"]["win_rate"] is not None
        if settings:
            assert record["loss"]["hyperparameters"] == {"ld_alpha": 0.25}
