"""Inputs that probe a loss, and the facts read off its answers (shared by `harness check`, the
built-in table and the loss plots).

Conventions. rho = (pc - rc) - (pr - rr) is the implicit reward margin of the DiscoPOP paper (its
Figure 5 plots losses against it). A "rho grid" moves along rho symmetrically: the chosen log-ratio
is +rho/2 and the rejected one -rho/2, and every log-prob stays below -100, so losses that use the
log-ratios separately (NCA, APO, SPPO) or the log-probs themselves (ORPO) get well-defined inputs.
Probes call a loss through ``LossFn``: a function from the input dict to per-example losses, so the
same code serves a sandboxed session and a trusted in-process loss.

Per-token inputs (harness.vocabulary) are built from the sequence ones by ``with_tokens`` for a loss
that declares them, so that they always agree: each completion's summed log-prob is spread over its
tokens (uneven shares on behaviour inputs, equal shares on rho grids), masks follow the lengths,
log sum_v p(v)^2 lies in [2 log p, 0] and the token KL is >= 0 and 0 where the policy equals the
reference. On rho grids they are neutral (log sum_v p(v)^2 = log p, KL = |per-token log-ratio|), so
a per-token loss's curve is comparable with the sequence losses'.

The input contract, one for the check, training (harness.train) and every suite: INPUT_DTYPES. The
probes follow it exactly so that a loss cannot tell them from training inputs by their types: int64
lengths, the trainer's batch size among the probed ones, log-probs of the trainer's dtype, and an
"initial" regime where the policy equals the reference (every training run starts there). What stays
distinguishable (the number and order of calls, the exact values) cannot be hidden, which is why
training guards itself as well (a non-finite loss, gradient or weight ends the seed as ``diverged``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from harness.vocabulary import SEQUENCE_INPUTS, TOKEN_INPUTS

LossFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]

# Summed log-prob ranges: realistic short completions, and pairs mixing very long or unlikely
# completions (down to -1000) with short ones, so that pc - pr reaches hundreds of nats.
REGIMES = {"realistic": (-60.0, -5.0), "extreme": (-1000.0, -5.0), "initial": (-60.0, -5.0)}
# "initial": the policy equals the reference (rho = 0 everywhere), as at the first training step.

INPUT_DTYPES: dict[str, torch.dtype | None] = {
    "policy_chosen_logps": None,  # None: the policy's floating dtype (float32 on CPU, bfloat16 probed)
    "policy_rejected_logps": None,
    "reference_chosen_logps": None,  # cast to the policy's dtype
    "reference_rejected_logps": None,
    "chosen_lengths": torch.int64,  # completion token counts
    "rejected_lengths": torch.int64,
    **{name: None for name in TOKEN_INPUTS if not name.endswith("_mask")},  # (B, T), the policy's dtype
    "chosen_token_mask": torch.bool,
    "rejected_token_mask": torch.bool,
}
"""Input dtypes of a loss call, everywhere a loss is called; sequence inputs have shape (B,), per-token
ones (B, T) (harness.vocabulary)."""
MAX_LENGTH = 512  # completion token counts are drawn from 1..MAX_LENGTH
GRID_LEVEL = -100.0  # log-prob level around which rho grids are built
GRID_LENGTH = 50  # completion length used on rho grids


def behaviour_inputs(batch: int, dtype: torch.dtype, regime: str, max_rho: float, seed: int) -> dict:
    """Random inputs with log-probs in REGIMES[regime] (up to max_rho below it) and |rho| <= max_rho
    (rho = 0 everywhere in the "initial" regime, where the reference equals the policy).

    For batches of 3 or more, examples 0, 1, 2 sit at rho = -max_rho, 0, +max_rho; example 1 has
    identical chosen and rejected log-probs, so its rho is exactly 0 in every dtype.
    """
    lo, hi = REGIMES[regime]
    gen = torch.Generator().manual_seed(seed)

    def uniform(a: float, b: float) -> torch.Tensor:
        return a + (b - a) * torch.rand(batch, generator=gen, dtype=torch.float64)

    rho = uniform(-max_rho, max_rho)
    if batch >= 3:
        rho[:3] = torch.tensor([-max_rho, 0.0, max_rho], dtype=torch.float64)
    chosen_ratio = uniform(-max_rho / 2, max_rho / 2)
    rejected_ratio = chosen_ratio - rho
    pc, pr = uniform(lo, hi), uniform(lo, hi)
    rc, rr = pc - chosen_ratio, pr - rejected_ratio
    # Shift each answer's (policy, reference) pair down together so both stay <= hi; rho is unchanged.
    shift_c = (torch.maximum(pc, rc) - hi).clamp(min=0)
    shift_r = (torch.maximum(pr, rr) - hi).clamp(min=0)
    values = {
        "policy_chosen_logps": pc - shift_c,
        "reference_chosen_logps": rc - shift_c,
        "policy_rejected_logps": pr - shift_r,
        "reference_rejected_logps": rr - shift_r,
    }
    if batch >= 3:
        values["policy_rejected_logps"][1] = values["policy_chosen_logps"][1]
        values["reference_rejected_logps"][1] = values["reference_chosen_logps"][1]
    if regime == "initial":
        values["reference_chosen_logps"] = values["policy_chosen_logps"].clone()
        values["reference_rejected_logps"] = values["policy_rejected_logps"].clone()
    inputs = {k: v.to(dtype) for k, v in values.items()}
    inputs["chosen_lengths"] = torch.randint(1, MAX_LENGTH + 1, (batch,), generator=gen)
    inputs["rejected_lengths"] = torch.randint(1, MAX_LENGTH + 1, (batch,), generator=gen)
    return inputs


def rho_grid_inputs(rho: torch.Tensor, dtype: torch.dtype = torch.float32) -> dict:
    """Inputs whose margin is exactly ``rho`` (see the module docstring for the convention)."""
    rho = rho.to(torch.float64)
    level = GRID_LEVEL - rho.abs() / 2
    ones = torch.ones_like(rho)
    values = {
        "policy_chosen_logps": level + rho / 2,
        "policy_rejected_logps": level - rho / 2,
        "reference_chosen_logps": level,
        "reference_rejected_logps": level,
    }
    inputs = {k: v.to(dtype) for k, v in values.items()}
    inputs["chosen_lengths"] = (ones * GRID_LENGTH).long()
    inputs["rejected_lengths"] = (ones * GRID_LENGTH).long()
    return inputs


def slope_from_grads(grads: dict[str, torch.Tensor]) -> float:
    """d loss / d rho at a single example, from the gradients w.r.t. the policy log-probs.

    Along the grid direction rho moves pc by +1/2 and pr by -1/2 per unit (the mean over a batch of
    one is the example's loss).
    """
    g_chosen = float(grads["policy_chosen_logps"].float().sum()) if "policy_chosen_logps" in grads else 0.0
    g_rejected = float(grads["policy_rejected_logps"].float().sum()) if "policy_rejected_logps" in grads else 0.0
    return 0.5 * (g_chosen - g_rejected)


def curve_shape(rho: torch.Tensor, losses: torch.Tensor) -> dict:
    """Convexity and stationary points of a loss sampled on an evenly spaced rho grid."""
    values = losses.double()
    if not torch.isfinite(values).all():
        return {"convex_in_rho": None, "local_minima": [], "local_maxima": []}
    second = values[2:] - 2 * values[1:-1] + values[:-2]
    tolerance = 1e-5 * (1.0 + float(values.abs().max()))  # float32 round-off in second differences
    slope = values[1:] - values[:-1]
    mids = ((rho[1:] + rho[:-1]) / 2).double()
    minima, maxima = [], []
    for i in range(len(slope) - 1):
        a, b = float(slope[i]), float(slope[i + 1])
        if (a < 0 <= b) or (a > 0 >= b):
            # Linear interpolation of the finite-difference slope between the two midpoints.
            at = float(mids[i] + (mids[i + 1] - mids[i]) * a / (a - b))
            (minima if a < 0 else maxima).append(round(at, 2))
    return {
        "convex_in_rho": bool((second >= -tolerance).all()),
        "local_minima": minima[:5],
        "local_maxima": maxima[:5],
    }


TAIL_RHOS = (1e1, 1e2, 1e3, 1e4, 1e5, 1e6)  # far enough for length-normalised losses to saturate


def tail_side(call_one: Callable[[float], float | None], sign: float) -> list[float]:
    """The loss at sign * TAIL_RHOS, outward, each point alone (batch of one); stops at the first
    value that is not finite (+inf, NaN, or an error: ``call_one`` returns None), keeps -inf."""
    values = []
    for r in TAIL_RHOS:
        value = call_one(sign * r)
        if value == -math.inf:
            return values + [value]
        if value is None or not math.isfinite(value):
            break
        values.append(value)
    return values


def bounded_below(sides: list[list[float]]) -> bool | None:
    """Heuristic from the tails of the loss (``tail_side`` for each direction of rho).

    On a side, the loss is unbounded below when it reaches -inf, or when it still falls over the
    last decade of rho at least half as much as over the decade before (a linear or logarithmic
    descent). A side whose loss turns non-finite (rising to +inf, overflow) is judged on the finite
    points before it. None when a side has too few finite points to judge and no side is unbounded.
    """
    verdict: bool | None = True
    for side in sides:
        if side and side[-1] == -math.inf:
            return False
        if len(side) < 3:
            verdict = None
            continue
        drops = [a - b for a, b in zip(side[:-1], side[1:], strict=False)]
        if drops[-1] > 1e-3 * (1.0 + abs(side[-1])) and drops[-1] >= 0.5 * drops[-2]:
            return False
    return verdict


def _changed(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.double(), b.double()
    return bool(((a - b).abs() > 1e-6 * (1.0 + a.abs())).any())


def dependence(call: LossFn, batch: int = 7, seed: int = 1) -> dict:
    """Does the loss use batch statistics, the reference log-probs, the completion lengths?

    Asked at two scales of rho: near initialisation (|rho| <= 2) and trained (|rho| <= 20), since a
    batch statistic can saturate at one of them (DBAQL's sigmoid of a variance does at large rho).
    """
    near, far = (_dependence_at(call, batch, seed, max_rho) for max_rho in (2.0, 20.0))
    return {
        "uses_batch_statistics": near["uses_batch_statistics"] or far["uses_batch_statistics"],
        "reference_free": near["reference_free"] and far["reference_free"],
        "length_dependent": near["length_dependent"] or far["length_dependent"],
    }


def _dependence_at(call: LossFn, batch: int, seed: int, max_rho: float) -> dict:
    """Change one thing, watch the loss: the other examples of the batch (watching example 0), the
    reference log-probs (moved by different amounts, so rho changes too), the lengths (x2 and x3).
    Float32, realistic log-probs.
    """
    base = behaviour_inputs(batch, torch.float32, "realistic", max_rho, seed)
    losses = call(base)
    others = behaviour_inputs(batch, torch.float32, "realistic", max_rho, seed + 1)
    mixed = {k: torch.cat([base[k][:1], others[k][1:]]) for k in SEQUENCE_INPUTS}
    shifted = dict(base)
    shifted["reference_chosen_logps"] = base["reference_chosen_logps"] - 3.0
    shifted["reference_rejected_logps"] = base["reference_rejected_logps"] - 7.0
    longer = dict(base)
    longer["chosen_lengths"] = base["chosen_lengths"] * 2
    longer["rejected_lengths"] = base["rejected_lengths"] * 3
    return {
        "uses_batch_statistics": _changed(losses[:1], call(mixed)[:1]),
        "reference_free": not _changed(losses, call(shifted)),
        "length_dependent": _changed(losses, call(longer)),
    }


def _pattern(width: int, phase: torch.Tensor) -> torch.Tensor:
    """(B, T) values in [0, 1], a fixed function of each row's own ``phase`` and the column: never of
    the other rows or of T, so a probe that changes other examples leaves this one's tokens alone."""
    t = torch.arange(width, dtype=torch.float64).unsqueeze(0)
    return 0.5 + 0.5 * torch.sin(1.7 * t + phase.unsqueeze(1))


def with_tokens(inputs: dict, seed: int | None = 0) -> dict:
    """``inputs`` plus every per-token vocabulary input, consistent with the sequence ones (module doc).

    ``seed`` None spreads each sum in equal shares (rho grids); otherwise in uneven shares set by the
    seed and each row's own values, so equal inputs and seed give equal tokens (the determinism check
    relies on it) and no row's tokens depend on another row."""
    dtype = inputs["policy_chosen_logps"].dtype
    lengths = {side: inputs[f"{side}_lengths"].clamp(min=1) for side in ("chosen", "rejected")}
    width = int(max(int(v.max()) for v in lengths.values()))
    steps = torch.arange(width).unsqueeze(0)
    out = dict(inputs)
    for k, side in enumerate(("chosen", "rejected")):
        valid = steps < lengths[side].unsqueeze(1)
        if seed is None:  # neutral: log sum_v p(v)^2 = log p(y) (WPO's weight 1), KL = |log-ratio|
            raw = torch.ones(valid.shape, dtype=torch.float64)
            spread = torch.zeros(valid.shape, dtype=torch.float64)
        else:
            phase = inputs[f"policy_{side}_logps"].detach().double() * 0.37 + 1.3 * seed + k
            raw = 0.5 + _pattern(width, phase)
            spread = _pattern(width, phase + 2.1)
        shares = raw * valid
        shares = shares / shares.sum(dim=1, keepdim=True)
        policy = inputs[f"policy_{side}_logps"].double().unsqueeze(1) * shares
        reference = inputs[f"reference_{side}_logps"].double().unsqueeze(1) * shares
        out[f"{side}_token_mask"] = valid
        out[f"policy_{side}_token_logps"] = policy.to(dtype)
        out[f"reference_{side}_token_logps"] = reference.to(dtype)
        # log sum_v p(v)^2 lies in [2 log p(y), 0]: below the label's own log-prob by up to one nat
        # (from the detached log-probs: the vocabulary gives this input no gradient)
        lss = torch.maximum(policy.detach() - spread, 2 * policy.detach()).clamp(max=0.0) * valid
        out[f"policy_{side}_token_log_sum_sq_probs"] = lss.to(dtype)
        out[f"{side}_token_kl"] = ((policy - reference).abs() * (spread * 2 if seed is not None else 1)).to(dtype)
    return out


def needs_tokens(params) -> bool:
    return any(p in TOKEN_INPUTS for p in params)


def token_slope(grads: dict[str, torch.Tensor]) -> float:
    """The part of d loss / d rho carried by per-token policy inputs on a rho grid (equal shares of
    GRID_LENGTH tokens: each token moves by 1/GRID_LENGTH of its completion's sum)."""
    g = {side: float(grads[f"policy_{side}_token_logps"].double().sum()) / GRID_LENGTH
         if f"policy_{side}_token_logps" in grads else 0.0 for side in ("chosen", "rejected")}
    return 0.5 * (g["chosen"] - g["rejected"])
