"""Confidence intervals for a (seeds x prompts) table of per-prompt scores, crossed design.

Every seed of a run is scored on the same prompts, so a table ``y[s, p]`` has a seed effect, a
prompt effect and a residual (two-way crossed random effects without replication):

    y[s, p] = mu + a[s] + b[p] + e[s, p],   Var(mean y) = s_a^2 / S + s_b^2 / P + s_e^2 / (S P)

From the ANOVA mean squares (E[MS_seed] = s_e^2 + P s_a^2, E[MS_prompt] = s_e^2 + S s_b^2,
E[MS_resid] = s_e^2) the estimate is Var(mean y) = (MS_prompt + max(0, MS_seed - MS_resid)) / (S P)
(the seed component truncated at 0);
the interval is mean +- t * sqrt(Var) with Satterthwaite's degrees of freedom (Satterthwaite 1946;
the crossed-design standard error of Cornfield & Tukey 1956, used for evaluation tables by
Miller 2024, "Adding error bars to evals", arXiv 2411.00640). With few seeds the seed term
dominates and t has few degrees of freedom, so the interval widens as it must (a percentile
bootstrap over 3 seeds sees only ~2/3 of the seed variance).

``harness.stats.win_rate_ci`` / ``paired_difference_ci`` are the project's public crossed
estimators; ``win_rate_ci`` and ``paired_ci`` here call them when they exist and otherwise use
this computation, so that callers keep one name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class CrossedEstimate:
    """mean, [low, high] at ``level``, and the standard error the interval is built from (half-width
    = t(df) * sem, so a printed SEM always agrees with its CI)."""

    mean: float
    low: float
    high: float
    sem: float
    df: float
    n_seeds: int
    n_prompts: int


def crossed_ci(table, level: float = 0.95) -> CrossedEstimate:
    """Mean of a (S seeds, P prompts) table with its crossed-design CI; see the module doc.

    Raises ValueError for a table that is not 2-D, is empty or holds non-finite values. With one
    seed the seed term cannot be estimated: the interval then covers prompts and residual only
    (df from the prompt mean square), which callers must label as such."""
    y = np.asarray(table, dtype=float)
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"a crossed CI needs a non-empty (seeds, prompts) table, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("a crossed CI needs finite scores (drop the unmeasured seeds first)")
    s, p = y.shape
    mean = float(y.mean())
    if s == 1 and p == 1:
        return CrossedEstimate(mean, mean, mean, 0.0, float("inf"), 1, 1)
    seed_means, prompt_means = y.mean(axis=1), y.mean(axis=0)
    ms_seed = p * np.sum((seed_means - mean) ** 2) / (s - 1) if s > 1 else 0.0
    ms_prompt = s * np.sum((prompt_means - mean) ** 2) / (p - 1) if p > 1 else 0.0
    if s > 1 and p > 1:
        resid = y - seed_means[:, None] - prompt_means[None, :] + mean
        ms_resid = np.sum(resid ** 2) / ((s - 1) * (p - 1))
    else:
        ms_resid = 0.0
    # (coefficient, mean square, df); a negative seed-component estimate (MS_seed < MS_resid) is
    # truncated at 0, as is usual for variance components, which drops its two terms.
    terms = [(1.0, ms_prompt, p - 1)] if p > 1 else []
    if s > 1 and (p == 1 or ms_seed > ms_resid):
        terms.append((1.0, ms_seed, s - 1))
        if p > 1:
            terms.append((-1.0, ms_resid, (s - 1) * (p - 1)))
    var = sum(c * ms for c, ms, _ in terms) / (s * p)
    denom = sum((c * ms / (s * p)) ** 2 / df for c, ms, df in terms)
    df = float(var ** 2 / denom) if denom > 0 else float("inf")
    se = float(np.sqrt(var))
    half = float(_st.t.ppf(0.5 + level / 2, max(df, 1.0)) * se) if se > 0 else 0.0
    return CrossedEstimate(mean, mean - half, mean + half, se, df, s, p)


def win_rate_ci(outcomes, level: float = 0.95):
    """CI of the mean of a (seeds, prompts) table: ``harness.stats.win_rate_ci`` when present."""
    try:
        from harness.stats import win_rate_ci as public
    except ImportError:
        return crossed_ci(outcomes, level)
    return public(np.asarray(outcomes, dtype=float), level=level)


def paired_ci(a, b, level: float = 0.95):
    """CI of mean(a - b) for two (seeds, prompts) tables on the same seeds and prompts (paired):
    ``harness.stats.paired_difference_ci`` once the crossed estimators are public, else crossed_ci
    of the difference table (seed, prompt and residual terms of the difference)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired tables need the same (seeds, prompts) shape, got {a.shape} and {b.shape}")
    try:
        from harness.stats import paired_difference_ci, win_rate_ci  # noqa: F401  (the crossed API)
    except ImportError:
        return crossed_ci(a - b, level)
    return paired_difference_ci(a, b, level=level)


def sem_of(estimate) -> float:
    """The standard error behind a CI: the estimate's own when it has one that builds the CI, else the
    normal half-width / 1.96 (so a printed SEM never disagrees with the printed CI)."""
    if isinstance(estimate, CrossedEstimate):
        return estimate.sem
    return float((estimate.high - estimate.low) / 2 / _st.norm.ppf(0.975))
