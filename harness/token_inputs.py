"""The per-token vocabulary (harness.vocabulary), computed on the trusted side from the model's forward.

Only a loss that declares a per-token input takes this path; every other loss keeps the trainer's
sequence-level fast path (one fused forward, summed log-probs). Rows come as TRL's collator makes
them: [chosen; rejected] x (prompt + completion, right-padded), and per-token values are at the shifted
positions (position i predicts token i + 1). ``layout`` turns that into the vocabulary's layout:
column t is the t-th completion token, T the batch's longest completion, zero past each answer's end.

What needs more than the label's log-prob is computed here too, never by the loss:
* ``*_token_log_sum_sq_probs``: log sum_v p(v)^2 of the policy's next-token distribution (WPO, Zhou et
  al. 2024, Eq. 2-3), from TRL's fused LM head (its ``log_sum_sq_probs`` output), without gradient.
* ``*_token_kl``: KL(pi_ref(.|x, y<t) || pi(.|x, y<t)) = sum_v pi_ref(v) (log pi_ref(v) - log pi(v))
  (TDPO, Zeng et al. 2024, Eq. 4's sequential KL term), from the full logits of both models, with the
  policy's gradient. This materialises (2B, S, V) logits: its cost is the vocabulary size.
The reference per-token log-probs come from a frozen copy of the policy taken before training (every
suite's reference is its initial policy); ``reference_gap`` measures that copy against the suite's
cached summed reference log-probs, so a wrong reference cannot pass unnoticed.
"""

from __future__ import annotations

import torch

from harness.vocabulary import FULL_VOCABULARY_INPUTS, INPUTS

REFERENCE_TOKEN_INPUTS = ("reference_chosen_token_logps", "reference_rejected_token_logps", "chosen_token_kl",
                          "rejected_token_kl")
MAX_REFERENCE_GAP = 1.0  # nats per completion between the frozen copy and the cached reference: a different model


def layout(shift_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index (N, T) into the shifted positions, valid (N, T) bool) of each row's completion tokens.

    ``shift_mask`` (N, S) marks completion positions; TRL's rows hold one contiguous completion each."""
    mask = shift_mask.bool()
    lengths = mask.sum(dim=1)
    start = (mask.long().cumsum(dim=1) == 0).sum(dim=1)  # positions before the completion's first token
    steps = torch.arange(int(lengths.max().clamp(min=1)), device=mask.device)
    valid = steps.unsqueeze(0) < lengths.unsqueeze(1)
    index = (start.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=mask.size(1) - 1)
    return index, valid


def aligned(values: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``values`` (N, S) at the completion positions, (N, T), zero past each completion's end."""
    return torch.where(valid, values.gather(1, index), torch.zeros((), dtype=values.dtype, device=values.device))


def token_kl(reference_log_probs: torch.Tensor, policy_log_probs: torch.Tensor) -> torch.Tensor:
    """sum_v p_ref(v) (log p_ref(v) - log p(v)) over the last dimension (both are log-softmaxed)."""
    return (reference_log_probs.exp() * (reference_log_probs - policy_log_probs)).sum(dim=-1)


def _full(model, inputs, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """(label log-probs (N, S-1), all log-probs (N, S-1, V)) from the model's full logits."""
    # the class's own forward: TRL's fused head is an instance attribute whose closure holds the model it
    # patched, so on a deep copy (the frozen reference) it would run the policy's weights
    logits = type(model).forward(model, input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                 use_cache=False).logits
    log_probs = logits[:, :-1].float().log_softmax(dim=-1)
    target = labels[:, 1:]
    picked = log_probs.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked.masked_fill(target == -100, 0.0), log_probs


def _fused(model, inputs, labels, **kwargs):
    return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                 use_cache=False, fused_lm_head=True, **kwargs)


def forward(model, reference, inputs: dict, wanted: tuple[str, ...]) -> tuple[dict, object]:
    """(per-token tensors by row kind, the policy's outputs) for one collated batch.

    Returns {"policy": (N, S-1), "reference"?: (N, S-1), "log_sum_sq"?: (N, S-1), "kl"?: (N, S-1)} at the
    shifted positions, zero outside completions; ``reference`` is the frozen copy (None when unused)."""
    labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
    out: dict[str, torch.Tensor] = {}
    if any(n in ("chosen_token_kl", "rejected_token_kl") for n in wanted):
        out["policy"], policy_all = _full(model, inputs, labels)
        with torch.no_grad():
            out["reference"], reference_all = _full(reference, inputs, labels)
        inside = labels[:, 1:] != -100
        out["kl"] = token_kl(reference_all, policy_all).masked_fill(~inside, 0.0)
        out["log_sum_sq"] = torch.logsumexp(2 * policy_all.detach(), dim=-1).masked_fill(~inside, 0.0)
        return out, None
    outputs = _fused(model, inputs, labels)
    seq_len = inputs["completion_mask"].size(1) - 1
    out["policy"] = outputs.log_probs[:, -seq_len:]
    if outputs.log_sum_sq_probs is not None:
        out["log_sum_sq"] = outputs.log_sum_sq_probs[:, -seq_len:].detach()
    if reference is not None:
        with torch.no_grad():
            out["reference"] = _fused(reference, inputs, labels).log_probs[:, -seq_len:]
    return out, outputs


_SOURCES = {  # vocabulary name -> (per-token tensor, row half)
    "policy_chosen_token_logps": ("policy", 0), "policy_rejected_token_logps": ("policy", 1),
    "reference_chosen_token_logps": ("reference", 0), "reference_rejected_token_logps": ("reference", 1),
    "policy_chosen_token_log_sum_sq_probs": ("log_sum_sq", 0),
    "policy_rejected_token_log_sum_sq_probs": ("log_sum_sq", 1),
    "chosen_token_kl": ("kl", 0), "rejected_token_kl": ("kl", 1),
}  # fmt: skip


def vocabulary_inputs(per_token: dict, shift_mask: torch.Tensor, wanted: tuple[str, ...],
                      dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The per-token vocabulary inputs ``wanted`` in the vocabulary's layout; float ones in ``dtype``."""
    index, valid = layout(shift_mask)
    chosen_valid, rejected_valid = valid.chunk(2, dim=0)
    out: dict[str, torch.Tensor] = {}
    for name in wanted:
        if name == "chosen_token_mask":
            out[name] = chosen_valid
        elif name == "rejected_token_mask":
            out[name] = rejected_valid
        elif name in _SOURCES:
            source, half = _SOURCES[name]
            values = aligned(per_token[source], index, valid).chunk(2, dim=0)[half]
            out[name] = values.to(dtype) if INPUTS[name].kind == "float" else values
    return out


def reference_gap(per_token: dict, cached: tuple[torch.Tensor, torch.Tensor]) -> float | None:
    """Largest |sum of the copy's per-token reference log-probs - the cached summed ones| (nats)."""
    if "reference" not in per_token:
        return None
    sums = per_token["reference"].detach().double().sum(dim=1)
    return float((sums - torch.cat([c.double().to(sums.device) for c in cached])).abs().max())


def needs_reference(wanted) -> bool:
    return any(n in REFERENCE_TOKEN_INPUTS for n in wanted)


def needs_log_sum_sq(wanted) -> bool:
    return any(n in FULL_VOCABULARY_INPUTS and "log_sum_sq" in n for n in wanted)
