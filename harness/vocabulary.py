"""The loss vocabulary: every input a loss function may declare, its shape, dtype and gradient.

Two tiers. The SEQUENCE inputs (shape (B,)) are what most losses need and what every caller sends
on the fast path: summed completion log-probs under the policy and the reference, token counts, and
beta. The PER-TOKEN inputs (shape (B, T)) are opt-in: the trainer computes and sends them only to a
loss that declares one, so a sequence-level loss pays nothing for them.

Per-token layout. Column t is the t-th token of the completion (the prompt is never included), T is
the longest completion of the batch (chosen and rejected share it), and every value past an answer's
end is 0 (``*_token_mask`` is False there). So ``policy_chosen_token_logps.sum(-1)`` is
``policy_chosen_logps`` and ``chosen_token_mask.sum(-1)`` is ``chosen_lengths``.

``differentiable`` inputs depend on the policy: the sandbox returns the gradient of the mean loss
with respect to them and the trainer feeds it into the policy's backward pass. The others are data.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Input:
    """One vocabulary entry."""

    description: str
    """What the value is, with its shape (shown to authors, in `harness losses` and to proposers)."""
    kind: str
    """"float" (the policy's floating dtype), "int64", "bool", or "scalar" (a Python float)."""
    per_token: bool = False
    """Shape (B, T) in the per-token layout (module docstring) instead of (B,)."""
    differentiable: bool = False
    """The policy's gradient flows through it (the sandbox returns d mean loss / d input)."""


_T = "(B, T): column t is the completion's t-th token, 0 past its end"
INPUTS: MappingProxyType = MappingProxyType({
    "policy_chosen_logps": Input("summed log-prob of the chosen completion under the policy, (B,)", "float",
                                 differentiable=True),
    "policy_rejected_logps": Input("summed log-prob of the rejected completion under the policy, (B,)", "float",
                                   differentiable=True),
    "reference_chosen_logps": Input("summed log-prob of the chosen completion under the reference, (B,)", "float"),
    "reference_rejected_logps": Input("summed log-prob of the rejected completion under the reference, (B,)",
                                      "float"),
    "chosen_lengths": Input("number of completion tokens of the chosen answer, (B,) int64", "int64"),
    "rejected_lengths": Input("number of completion tokens of the rejected answer, (B,) int64", "int64"),
    "beta": Input("KL-regularisation strength (float)", "scalar"),
    # ---- per-token inputs (opt-in) ----
    "policy_chosen_token_logps": Input(f"per-token log-probs of the chosen completion under the policy, {_T}",
                                       "float", per_token=True, differentiable=True),
    "policy_rejected_token_logps": Input(f"per-token log-probs of the rejected completion under the policy, {_T}",
                                         "float", per_token=True, differentiable=True),
    "reference_chosen_token_logps": Input(f"per-token log-probs of the chosen completion under the reference, {_T}",
                                          "float", per_token=True),
    "reference_rejected_token_logps": Input(
        f"per-token log-probs of the rejected completion under the reference, {_T}", "float", per_token=True),
    "chosen_token_mask": Input("True at the chosen completion's tokens, (B, T) bool", "bool", per_token=True),
    "rejected_token_mask": Input("True at the rejected completion's tokens, (B, T) bool", "bool", per_token=True),
    "policy_chosen_token_log_sum_sq_probs": Input(
        f"log sum_v p(v)^2 of the policy's next-token distribution at each chosen token (WPO's weight), no "
        f"gradient, {_T}", "float", per_token=True),
    "policy_rejected_token_log_sum_sq_probs": Input(
        f"log sum_v p(v)^2 of the policy's next-token distribution at each rejected token (WPO's weight), no "
        f"gradient, {_T}", "float", per_token=True),
    "chosen_token_kl": Input(
        f"KL(reference || policy) of the next-token distributions at each chosen token (TDPO), >= 0, {_T}",
        "float", per_token=True, differentiable=True),
    "rejected_token_kl": Input(
        f"KL(reference || policy) of the next-token distributions at each rejected token (TDPO), >= 0, {_T}",
        "float", per_token=True, differentiable=True),
})  # fmt: skip

VOCABULARY: MappingProxyType = MappingProxyType({k: v.description for k, v in INPUTS.items()})
TENSOR_INPUTS = tuple(k for k, v in INPUTS.items() if v.kind != "scalar")
SEQUENCE_INPUTS = tuple(k for k in TENSOR_INPUTS if not INPUTS[k].per_token)
TOKEN_INPUTS = tuple(k for k in TENSOR_INPUTS if INPUTS[k].per_token)
DIFFERENTIABLE = tuple(k for k, v in INPUTS.items() if v.differentiable)
POLICY_INPUTS = ("policy_chosen_logps", "policy_rejected_logps")
FULL_VOCABULARY_INPUTS = ("policy_chosen_token_log_sum_sq_probs", "policy_rejected_token_log_sum_sq_probs",
                          "chosen_token_kl", "rejected_token_kl")
"""Inputs that need the whole next-token distribution, not only the label's log-prob."""


def wants_tokens(params) -> bool:
    """Whether a loss declaring ``params`` needs the per-token path."""
    return any(p in TOKEN_INPUTS for p in params)
