"""Training through the bridge with a jailed loss equals in-process training, for every built-in loss
(per-token ones included: their gradients w.r.t. (B, T) inputs flow back through the bridge).

A tiny bigram policy is trained for a few optimiser steps twice from the same initialisation: once
with the loss called directly under autograd, once with the loss running in the jail and its gradient
fed back by harness.sandbox.bridge. Losses and parameters must agree to 1e-6 at every step.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from harness import check_probes
from harness.lossfile import load_loss
from harness.paths import builtin_losses_dir
from harness.sandbox import SandboxLimits, open_session
from harness.sandbox.bridge import bridged_mean_loss

VOCAB, BATCH, PROMPT, ANSWER, STEPS, BETA = 24, 8, 5, 6, 4, 0.1
LOSS_FILES = sorted(builtin_losses_dir().glob("*.py")) + sorted(builtin_losses_dir().glob("controls/*.py"))


def test_builtin_losses_exist():
    assert "dpo.py" in {p.name for p in LOSS_FILES}, f"no dpo.py in {builtin_losses_dir()}"


class Bigram(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, 16)
        self.out = torch.nn.Linear(16, VOCAB)

    def completion_logps(self, seqs: torch.Tensor) -> torch.Tensor:
        """Summed log-prob of the answer tokens (positions PROMPT..) given the previous token."""
        logits = self.out(torch.tanh(self.emb(seqs[:, :-1])))
        logp = torch.log_softmax(logits, -1).gather(-1, seqs[:, 1:, None]).squeeze(-1)
        return logp[:, PROMPT - 1 :].sum(-1)


def _batches():
    g = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        yield (
            torch.randint(VOCAB, (BATCH, PROMPT + ANSWER), generator=g),
            torch.randint(VOCAB, (BATCH, PROMPT + ANSWER), generator=g),
        )


def _inputs(policy, reference, chosen, rejected):
    with torch.no_grad():
        ref_c, ref_r = reference.completion_logps(chosen), reference.completion_logps(rejected)
    lengths = torch.full((BATCH,), ANSWER, dtype=torch.int64)
    return {
        "policy_chosen_logps": policy.completion_logps(chosen),
        "policy_rejected_logps": policy.completion_logps(rejected),
        "reference_chosen_logps": ref_c,
        "reference_rejected_logps": ref_r,
        "chosen_lengths": lengths,
        "rejected_lengths": lengths - 1,
    }


def _train(step_loss, tokens: bool = False) -> tuple[list[float], torch.nn.Module]:
    torch.manual_seed(0)
    policy = Bigram()
    reference = copy.deepcopy(policy).requires_grad_(False)
    # a different reference makes rho non-zero from the first step
    with torch.no_grad():
        reference.out.bias.add_(torch.randn(VOCAB) * 0.3)
    opt = torch.optim.Adam(policy.parameters(), lr=0.05)
    means = []
    for chosen, rejected in _batches():
        opt.zero_grad()
        inputs = _inputs(policy, reference, chosen, rejected)
        # a per-token loss gets the per-token vocabulary built from these sums (differentiably)
        mean = step_loss(check_probes.with_tokens(inputs) if tokens else inputs)
        mean.backward()
        opt.step()
        means.append(mean.item())
    return means, policy


@pytest.mark.jail
@pytest.mark.parametrize("path", LOSS_FILES, ids=lambda p: str(p.relative_to(builtin_losses_dir())))
def test_jailed_training_equals_in_process(path: Path):
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    loss = load_loss(path)

    def direct(inputs):
        return loss(**{k: v for k, v in inputs.items() if k in loss.params}, beta=BETA).float().mean()

    tokens = check_probes.needs_tokens(loss.params)
    want_means, want_policy = _train(direct, tokens)
    with open_session(path, backend="jail", limits=SandboxLimits()) as session:
        got_means, got_policy = _train(lambda inputs: bridged_mean_loss(session, inputs, BETA)[0], tokens)
    torch.testing.assert_close(torch.tensor(got_means), torch.tensor(want_means), rtol=0, atol=1e-6)
    for (name, got), want in zip(got_policy.named_parameters(), want_policy.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    torch.manual_seed(0)
    moved = any(
        (p - q).abs().max() > 1e-4
        for p, q in zip(got_policy.parameters(), Bigram().parameters(), strict=True)
    )
    # only a loss that is identically zero (the `zero` control) may leave the policy where it started
    assert moved or not any(want_means), (
        "training did not move the policy; the comparison would prove nothing"
    )


def test_bridge_with_integer_inputs_declared_first(tmp_path):
    """The bridged mean keeps the log-probs' dtype even when the loss lists the lengths first."""
    path = tmp_path / "lengths_first.py"
    path.write_text(
        "import torch.nn.functional as F\n\n\n"
        "def loss(chosen_lengths, rejected_lengths, policy_chosen_logps, policy_rejected_logps, beta):\n"
        "    return -F.logsigmoid(beta * (policy_chosen_logps / chosen_lengths"
        " - policy_rejected_logps / rejected_lengths))\n"
    )
    pc, pr = torch.randn(4, requires_grad=True), torch.randn(4, requires_grad=True)
    lengths = {"chosen_lengths": torch.tensor([1, 2, 3, 4]), "rejected_lengths": torch.tensor([2, 2, 2, 2])}
    with open_session(path, backend="none", trust=True) as session:
        mean, _ = bridged_mean_loss(
            session, {"policy_chosen_logps": pc, "policy_rejected_logps": pr, **lengths}, 0.1
        )
    assert mean.dtype == torch.float32
    mean.backward()
    x, y = pc.detach().requires_grad_(), pr.detach().requires_grad_()
    load_loss(path)(policy_chosen_logps=x, policy_rejected_logps=y, **lengths, beta=0.1).mean().backward()
    torch.testing.assert_close(pc.grad, x.grad, rtol=0, atol=0)
    torch.testing.assert_close(pr.grad, y.grad, rtol=0, atol=0)
