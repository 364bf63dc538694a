"""The opt-in per-token vocabulary (harness.vocabulary): probes consistent with the sequence inputs, the
check on per-token losses, and the (B, T) tensors through every sandbox backend's wire."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness import check_probes
from harness.builtin import builtin_losses
from harness.checks import CheckConfig, check_session
from harness.discovery.evaluator import behaviour_key_of
from harness.lossfile import load_loss, read_loss
from harness.session import InProcessSession, LossCallError
from harness.vocabulary import DIFFERENTIABLE, INPUTS, SEQUENCE_INPUTS, TOKEN_INPUTS

ATTACKS = Path(__file__).parent / "sandbox_attacks"
PER_TOKEN = ("wpo", "ld_dpo", "sampo", "tdpo")


def test_the_vocabulary_lists_both_tiers():
    assert set(SEQUENCE_INPUTS) | set(TOKEN_INPUTS) | {"beta"} == set(INPUTS)
    assert all(INPUTS[n].per_token for n in TOKEN_INPUTS) and not any(INPUTS[n].per_token for n in SEQUENCE_INPUTS)
    assert set(DIFFERENTIABLE) == {"policy_chosen_logps", "policy_rejected_logps", "policy_chosen_token_logps",
                                   "policy_rejected_token_logps", "chosen_token_kl", "rejected_token_kl"}
    assert set(check_probes.INPUT_DTYPES) == set(SEQUENCE_INPUTS) | set(TOKEN_INPUTS)


@pytest.mark.parametrize("regime", ["realistic", "extreme", "initial"])
def test_probe_tokens_agree_with_the_sequence_inputs(regime):
    base = check_probes.behaviour_inputs(7, torch.float32, regime, 50.0, 1)
    x = check_probes.with_tokens(base)
    for side in ("chosen", "rejected"):
        mask = x[f"{side}_token_mask"]
        assert mask.dtype == torch.bool and torch.equal(mask.sum(-1), base[f"{side}_lengths"])
        for who in ("policy", "reference"):
            tokens = x[f"{who}_{side}_token_logps"]
            assert tokens.dtype == torch.float32 and (tokens[~mask] == 0).all()
            torch.testing.assert_close(tokens.double().sum(-1), base[f"{who}_{side}_logps"].double(), rtol=1e-5,
                                       atol=1e-3)
        lss, logp = x[f"policy_{side}_token_log_sum_sq_probs"], x[f"policy_{side}_token_logps"]
        assert (lss <= 0).all() and (lss >= 2 * logp - 1e-4).all()
        kl = x[f"{side}_token_kl"]
        assert (kl >= 0).all() and (regime != "initial" or (kl == 0).all())
    again = check_probes.with_tokens(base)
    assert all(torch.equal(x[k], again[k]) for k in TOKEN_INPUTS)  # deterministic


def test_a_row_s_tokens_never_depend_on_the_other_rows():
    """The batch-statistics probe swaps the other examples: example 0's tokens must stay as they were."""
    a = check_probes.behaviour_inputs(7, torch.float32, "realistic", 2.0, 1)
    b = check_probes.behaviour_inputs(7, torch.float32, "realistic", 2.0, 2)
    mixed = {k: torch.cat([a[k][:1], b[k][1:]]) for k in SEQUENCE_INPUTS}
    ta, tm = check_probes.with_tokens(a), check_probes.with_tokens(mixed)
    for k in TOKEN_INPUTS:
        width = int(a["chosen_lengths"][0].clamp(min=a["rejected_lengths"][0]))
        assert torch.equal(ta[k][0, :width], tm[k][0, :width]), k


@pytest.fixture(scope="module")
def reports():
    config = CheckConfig(batch_sizes=(1, 7, 64))
    out = {}
    for name in (*PER_TOKEN, "dpo"):
        loss = builtin_losses().get(name)
        out[name] = check_session(InProcessSession(load_loss(loss.path)), read_loss(loss.path).signature, config)
    return out


@pytest.mark.parametrize("name", PER_TOKEN)
def test_per_token_builtins_pass_the_check(reports, name):
    report = reports[name]
    assert report.valid, report.errors
    assert len(report.diagnostics["probe_losses"]) == 7
    assert report.diagnostics["call_ms_b64"] < CheckConfig().max_call_ms


def test_behaviour_keys_tell_the_per_token_losses_from_dpo(reports):
    """On the rho grid (equal lengths, equal token shares) WPO, LD-DPO and SamPO all equal DPO; the values
    on a fixed batch keep their twin keys apart."""
    dpo = reports["dpo"].diagnostics
    for name in ("wpo", "ld_dpo", "sampo"):
        d = reports[name].diagnostics
        assert d["loss_at_zero"] == pytest.approx(dpo["loss_at_zero"], abs=1e-6), name
    keys = {name: behaviour_key_of(r.diagnostics) for name, r in reports.items()}
    assert len(set(keys.values())) == len(keys)


def test_a_per_token_loss_that_breaks_on_uneven_tokens_fails_the_check(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def loss(policy_chosen_token_logps, chosen_token_mask):\n"
                    "    return (policy_chosen_token_logps / (policy_chosen_token_logps - policy_chosen_token_logps))"
                    ".sum(-1)\n")
    report = check_session(InProcessSession(load_loss(path)), read_loss(path).signature,
                           CheckConfig(batch_sizes=(7,), speed_batch=7))
    assert not report.valid and any("NaN" in e for e in report.errors)


def _inputs(batch=5):
    return check_probes.with_tokens(check_probes.behaviour_inputs(batch, torch.float32, "realistic", 10.0, 4))


def test_per_token_calls_through_the_sandbox_equal_the_trusted_ones(sandbox_backend):
    """The (B, T) tensors, bool masks and hyper-parameter values cross the wire; gradients come back for
    every differentiable input the loss declares, with its shape, and equal the in-process ones."""
    from harness.sandbox import open_session

    backend, limits = sandbox_backend
    x = _inputs()
    for name, hyper in (("ld_dpo", {"ld_alpha": 0.25}), ("tdpo", {"alpha": 1.5}), ("sampo", {})):
        path = builtin_losses().get(name).path
        trusted = InProcessSession(load_loss(path), hyper).call(x, 0.1, grad=True)
        with open_session(path, backend=backend, limits=limits, hyperparameters=hyper) as session:
            reply = session.call(x, 0.1, grad=True)
        torch.testing.assert_close(reply.losses, trusted.losses)
        assert set(reply.grads) == set(trusted.grads) == {n for n in DIFFERENTIABLE if n in session.params}
        for k, g in reply.grads.items():
            assert g.shape == x[k].shape
            torch.testing.assert_close(g, trusted.grads[k])


def test_a_forged_per_token_reply_larger_than_the_call_is_a_violation(sandbox_backend):
    from harness.sandbox import open_session

    backend, limits = sandbox_backend
    with pytest.raises(LossCallError) as info:
        with open_session(ATTACKS / "forged_token_reply.py", backend=backend, limits=limits) as session:
            session.call(_inputs(4), 0.1)
    assert info.value.status == "sandbox_violation" and "allowed" in info.value.message
