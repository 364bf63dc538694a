"""Differences of two (seeds x prompts) tables on the same prompts, their tests and the power of a gate.

``paired_difference_ci``: two runs on the same seeds and prompts (``harness compare``, the board's
pairs); ``rerun_difference_ci``: a rerun whose seeds are fresh draws of the first run's (``harness ci``);
``minimum_detectable_drop``: the drop a one-sided interval gate catches with a given power.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq as _brentq
from scipy.stats import norm
from scipy.stats import t as _student_t

from harness.stats.crossed import CrossedEstimate, clipped, crossed_mean_ci, measured_rows


def common_rows(a, b) -> tuple[np.ndarray, np.ndarray]:
    """The rows (seeds) measured in both tables, as two (S', P) arrays; raises ValueError if none."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired tables need the same (seeds x prompts) shape, got {a.shape} and {b.shape}")
    both = ~np.all(np.isnan(a), axis=1) & ~np.all(np.isnan(b), axis=1)
    if not both.any():
        raise ValueError("the two tables share no measured seed; a paired comparison needs at least one")
    return a[both], b[both]


def paired_difference_ci(a, b, level: float = 0.95) -> CrossedEstimate:
    """CI of mean(a - b) for two runs on the same seeds and prompts (a paired, crossed design).

    ``a``, ``b``: array-like (S seeds, P prompts), row s of both from training seed s, column p from
    prompt p (the same reference answers). The per-cell differences d = a - b form a crossed table in
    which shared prompt difficulty and reference draws cancel; its mean gets ``crossed_mean_ci``.
    Seeds null in either table are dropped (compared on the seeds both have). Scores lie in [0, 1], so
    the interval is clipped to [-1, 1] (``clipped``; mean and sem are not).
    """
    a, b = common_rows(a, b)
    return clipped(crossed_mean_ci(a - b, level), -1.0, 1.0)


def p_value(est: CrossedEstimate) -> float:
    """Two-sided p-value of mean = 0 matching the interval: the largest 1 - level whose interval
    ``crossed_mean_ci(table, level)`` still contains 0 (Banerjee's interval is monotone in level)."""
    parts = [(v, df) for v, df in est.components.values() if v > 0]
    target = abs(est.mean)
    if target == 0 or not parts:
        return 1.0 if target == 0 else 0.0
    var, dfs = np.array([v for v, _ in parts]), np.array([df for _, df in parts])

    def excess(alpha: float) -> float:
        return float(np.sqrt(np.dot(_student_t.isf(alpha / 2.0, dfs) ** 2, var))) - target

    if excess(1.0 - 1e-12) >= 0:
        return 1.0
    if excess(1e-300) <= 0:
        return 0.0
    return float(_brentq(excess, 1e-300, 1.0 - 1e-12, xtol=1e-300, rtol=1e-10))


def holm(p_values) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (family-wise error control), same order as given."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def rerun_difference_ci(a, b, level: float = 0.95) -> CrossedEstimate:
    """CI of mean(a) - mean(b) for two runs of the same suite whose seeds are fresh draws of one
    another (a rerun on another machine: same prompts and references, trajectories drifted apart).

    ``a``: (S_a, P), ``b``: (S_b, P), the same prompts in the same order; null rows dropped. Paired by
    prompt (shared difficulty cancels), not by seed: the seed piece pools both runs' seed mean squares,
    (SS_seed_a + SS_seed_b) / (S_a + S_b - 2) / P * (1/S_a + 1/S_b) with S_a + S_b - 2 df (equal seed
    variance holds under the null "nothing changed"); the prompt piece is the variance over prompts of
    the per-prompt mean difference less its residual share, with P - 1 df. Half-width: Banerjee (1961)
    as in ``crossed_mean_ci``; the interval is clipped to [-1, 1] (``clipped``). Raises ValueError on
    tables of different prompt counts or < 2 seeds each.
    """
    ta, tb = measured_rows(a), measured_rows(b)
    (sa, p), (sb, pb) = ta.shape, tb.shape
    if p != pb or min(sa, sb) < 2 or p < 2:
        raise ValueError(f"rerun tables need the same prompts and >= 2 seeds each, got {ta.shape} and {tb.shape}")
    ss_seed = sum(q * float(((t.mean(axis=1) - t.mean()) ** 2).sum()) for t, q in ((ta, p), (tb, p)))
    df_seed = sa + sb - 2
    seed_piece = ss_seed / df_seed / p * (1 / sa + 1 / sb)
    resid = [float(((t - t.mean(axis=1)[:, None] - t.mean(axis=0)[None, :] + t.mean()) ** 2).sum()) for t in (ta, tb)]
    ms_res = sum(resid) / ((sa - 1) * (p - 1) + (sb - 1) * (p - 1))
    delta = ta.mean(axis=0) - tb.mean(axis=0)
    prompt_piece = max(float(delta.var(ddof=1)) - ms_res * (1 / sa + 1 / sb), 0.0) / p
    parts = {"seed": (seed_piece, df_seed), "prompt": (prompt_piece, p - 1)}
    mean = float(ta.mean() - tb.mean())
    var = seed_piece + prompt_piece
    if var <= 0:
        return CrossedEstimate(mean, mean, mean, 0.0, 0.0, level, min(sa, sb), p, True, parts)
    q = _student_t.ppf((1.0 + level) / 2.0, [df_seed, p - 1])
    half = float(np.sqrt(q[0] ** 2 * seed_piece + q[1] ** 2 * prompt_piece))
    se = float(np.sqrt(var))
    return clipped(CrossedEstimate(mean, mean - half, mean + half, se, half / se, level, min(sa, sb), p, True, parts),
                   -1.0, 1.0)


def minimum_detectable_drop(diff: CrossedEstimate, tolerance: float, power: float = 0.80) -> float:
    """The true drop whose interval falls entirely below -tolerance with probability ``power``,
    at this comparison's standard error and half-width (normal approximation for the estimate)."""
    return float(tolerance + diff.half_width + norm.ppf(power) * diff.sem)
