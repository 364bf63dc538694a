"""Uncertainty for every metric: confidence intervals and standard errors.

Runs of a suite form (S seeds x P prompts) tables of per-prompt scores on prompts shared by every
seed and every loss (a crossed design). ``win_rate_ci`` and ``paired_difference_ci`` give their means
an interval from the two-way crossed random-effects ANOVA with Banerjee's interval for a sum of
independently estimated variance pieces (``crossed_mean_ci``).

The older percentile bootstraps (``bootstrap_ci`` over items or clusters, ``hierarchical_ci`` over
seeds then items) remain for per-seed summaries of suites that have no outcomes table yet; with 3
seeds a percentile bootstrap sees only ~2/3 of the seed variance, so new code uses the crossed CI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq as _brentq
from scipy.stats import binomtest as _binomtest
from scipy.stats import t as _student_t

DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    sem: float
    n: int

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci": [self.low, self.high], "sem": self.sem, "n": self.n}


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def sem(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def cluster_sem(values, groups) -> float:
    """Standard error of the mean of ``values`` when items of one group (prompt id) are correlated.

    The cluster-robust (sandwich) SE of a ratio mean, sqrt(k / (k - 1) * sum_g (S_g - m n_g)^2) / N
    over k groups with sums S_g and sizes n_g (Cameron & Miller 2015, J. Human Resources 50:2, eq. 11):
    what the group bootstrap of ``bootstrap_ci`` estimates, so a printed SEM agrees with its interval.
    One group: 0.0 (nothing to estimate it from)."""
    v = np.asarray(values, dtype=float)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    k = int(inverse.max()) + 1 if v.size else 0
    if k < 2:
        return 0.0
    sums = np.bincount(inverse, weights=v, minlength=k)
    counts = np.bincount(inverse, minlength=k).astype(float)
    residual = sums - v.mean() * counts
    return float(np.sqrt(k / (k - 1) * np.sum(residual ** 2)) / v.size)


def no_spread_interval(value: float, k: int, bounds: tuple[float, float], level: float = 0.95) -> tuple[float, float]:
    """The interval of a bounded mean when all ``k`` observed units (prompts) scored exactly ``value``.

    A resampling interval has zero width there, although a few units unlike the k seen are likely.
    By Clopper-Pearson, the share q of units in the population that would score otherwise is below
    1 - ((1 - level) / 2)^(1/k) at two-sided ``level`` (the exact form of the "rule of three",
    3/k); those units lie anywhere in ``bounds``, so the mean lies in
    [value - q (value - low), value + q (high - value)]. 5 prompts all tied at 0.5: [0.24, 0.76]."""
    low, high = bounds
    q = 1.0 - ((1.0 - level) / 2.0) ** (1.0 / k)
    return value - q * (value - low), value + q * (high - value)


def bootstrap_ci(values, groups=None, *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0, bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap CI; resamples whole groups when given.

    ``sem`` is the one the interval estimates: over groups (``cluster_sem``) when given, else over
    items. With ``bounds`` (the range the values can take, e.g. (0, 1) for win rates) and every
    group scoring the same mean, where a bootstrap has no spread to resample, the interval is
    ``no_spread_interval`` instead of a zero-width one."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, v.size, size=(resamples, v.size))
        boots = v[idx].mean(axis=1)
        k, spread, se = v.size, bool(np.ptp(v) > 0), sem(v)
    else:
        g = np.asarray(groups)
        keys, inverse = np.unique(g, return_inverse=True)
        sums = np.bincount(inverse, weights=v, minlength=len(keys))
        counts = np.bincount(inverse, minlength=len(keys)).astype(float)
        pick = rng.integers(0, len(keys), size=(resamples, len(keys)))
        boots = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
        k, spread, se = len(keys), bool(np.ptp(sums / counts) > 1e-12), cluster_sem(v, g)
    if bounds is not None and not spread:
        lo, hi = no_spread_interval(float(v.mean()), k, bounds, level)
    else:
        lo, hi = _percentiles(boots, level)
    return Estimate(float(v.mean()), lo, hi, se, int(v.size))


def hierarchical_ci(per_seed: list, *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> Estimate:
    """CI of the mean over seeds AND items: resample seeds, then items within each resampled seed.

    ``per_seed`` is a list (one entry per seed) of arrays of per-item values (e.g. per-prompt win
    rates). With one seed this reduces to the ordinary bootstrap over items.
    """
    arrays = [np.asarray(a, dtype=float) for a in per_seed]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("hierarchical_ci needs at least one non-empty seed")
    rng = np.random.default_rng(seed)
    boots = np.empty(resamples)
    for r in range(resamples):
        chosen = rng.integers(0, len(arrays), size=len(arrays))
        boots[r] = np.mean([arrays[s][rng.integers(0, arrays[s].size, size=arrays[s].size)].mean() for s in chosen])
    seed_means = np.array([a.mean() for a in arrays])
    lo, hi = _percentiles(boots, level)
    return Estimate(float(seed_means.mean()), lo, hi, sem(np.concatenate(arrays)), int(sum(a.size for a in arrays)))


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval of a binomial proportion k / n (e.g. the share of seeds that burst):
    it stays inside [0, 1] and keeps close to nominal coverage for small n and k = 0 or n, where the
    Wald interval collapses to a point. scipy's ``binomtest(k, n).proportion_ci(method="wilson")``.
    Raises ValueError unless 0 <= k <= n and n >= 1."""
    if not (isinstance(k, int | np.integer) and isinstance(n, int | np.integer) and 0 <= k <= n and n >= 1):
        raise ValueError(f"a proportion needs integers 0 <= k <= n, n >= 1; got k={k!r}, n={n!r}")
    ci = _binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


# ------------------------------------------------------------------ crossed seeds x prompts tables

@dataclass(frozen=True)
class CrossedEstimate:
    """Mean of a (seeds x prompts) table with its interval: ``mean -+ quantile * sem``.

    ``sem`` is the standard error the interval is built from, so a printed SEM always agrees with the
    CI (``low``/``high`` may be clipped to the range of the quantity, see ``clipped``; ``quantile``,
    ``half_width`` and ``sem`` stay those of the unclipped interval). ``seed_noise`` is False when
    only one seed was measured: the interval then holds prompt and
    sampling noise only (training noise cannot be estimated from one seed).
    """

    mean: float
    low: float
    high: float
    sem: float
    quantile: float  # half-width / sem
    level: float
    seeds: int
    prompts: int
    seed_noise: bool
    components: dict  # {name: (variance of the mean it adds, degrees of freedom)}

    @property
    def half_width(self) -> float:
        return self.quantile * self.sem

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci": [self.low, self.high], "sem": self.sem, "quantile": self.quantile,
                "level": self.level, "seeds": self.seeds, "prompts": self.prompts, "seed_noise": self.seed_noise,
                "method": CROSSED_METHOD}


CROSSED_METHOD = "crossed seeds x prompts random-effects ANOVA, Banerjee interval"


def clipped(est: CrossedEstimate, lower: float, upper: float) -> CrossedEstimate:
    """``est`` with its interval intersected with [lower, upper], the range the quantity can take.

    A mean -+ t * sem interval can leave that range on small tables (e.g. [-0.17, 1.55] for a win rate
    from 2 seeds x 4 prompts); the part outside is impossible values, so cutting it off keeps every
    true value the interval covered (coverage unchanged) and only removes what could never be printed
    honestly. ``mean``, ``sem``, ``quantile`` and the variance components are unchanged.
    """
    return replace(est, low=min(max(est.low, lower), upper), high=max(min(est.high, upper), lower))


def measured_rows(table) -> np.ndarray:
    """A (S, P) float array without the seeds whose whole row is null (not measured at this point).

    Raises ValueError for a table that is not two-dimensional, has no measured seed, or has a
    missing value inside a measured row (the outcomes contract nulls whole rows only).
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[1] == 0:
        raise ValueError(f"an outcomes table is (seeds x prompts), got shape {t.shape}")
    keep = ~np.all(np.isnan(t), axis=1)
    t = t[keep]
    if t.shape[0] == 0:
        raise ValueError("no seed of this table has measured values (every row is null)")
    if not np.isfinite(t).all():
        raise ValueError("a measured seed has a missing or infinite per-prompt value; only whole rows may be null")
    return t


def mean_components(t: np.ndarray) -> dict[str, tuple[float, float]]:
    """Var(grand mean) of a (S, P) table split into independent pieces: {name: (variance, df)}.

    Model y_sp = mu + a_s + b_p + e_sp (seed, prompt and residual effects, independent, zero mean), so
    mean - mu = (a_bar + e_bar) + b_bar. With the two-way ANOVA mean squares (no replication),
    E[MS_seed] = s_e^2 + P s_a^2 and E[MS_prompt] = s_e^2 + S s_b^2, E[MS_res] = s_e^2:
      "seed":   Var(a_bar + e_bar) = E[MS_seed] / (S P), estimated with S - 1 df (exact chi-square);
      "prompt": Var(b_bar) = (E[MS_prompt] - E[MS_res]) / (S P), truncated at 0, with the P - 1 df of
                MS_prompt (a Satterthwaite df of the difference collapses towards 0 exactly when the piece
                is negligible beside the residual inside "seed", and would blow the quantile up).
    One seed: "prompt" is the plain variance of the mean over prompts (training noise not estimable).
    """
    s, p = t.shape
    if s == 1:
        return {"prompt": (float(t.var(ddof=1)) / p, p - 1)} if p > 1 else {}
    if p == 1:
        return {"seed": (float(t.var(ddof=1)) / s, s - 1)}
    _, seed, prompt = batch_pieces(t[None])
    out = {"seed": (float(seed[0]), s - 1)}
    if prompt[0] > 0:
        out["prompt"] = (float(prompt[0]), p - 1)
    return out


def batch_pieces(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mean_components`` for a stack of complete (S >= 2, P >= 2) tables, shape (m, S, P):
    (means, seed piece with S - 1 df, prompt piece with P - 1 df), each of shape (m,)."""
    m, s, p = tables.shape
    grand = tables.mean(axis=(1, 2))
    row, col = tables.mean(axis=2), tables.mean(axis=1)
    ms_seed = p * ((row - grand[:, None]) ** 2).sum(axis=1) / (s - 1)
    ms_prompt = s * ((col - grand[:, None]) ** 2).sum(axis=1) / (p - 1)
    resid = tables - row[:, :, None] - col[:, None, :] + grand[:, None, None]
    ms_res = (resid ** 2).sum(axis=(1, 2)) / ((s - 1) * (p - 1))
    return grand, ms_seed / (s * p), np.maximum(ms_prompt - ms_res, 0.0) / (s * p)


def crossed_mean_ci(table, level: float = 0.95) -> CrossedEstimate:
    """Mean of a (S seeds x P prompts) table with a CI for the population of seeds and prompts.

    Every seed scores the same P prompts (and the same reference answers): seeds and prompts are
    crossed random factors (Searle, Casella & McCulloch 1992, Variance Components, ch. 4). The mean's
    error is a sum of independent pieces (``mean_components``) whose variances are estimated with very
    different df (S - 1 = 2 for the seeds, hundreds for the prompts); the half-width is Banerjee's
    (1961, Sankhya A 23) sqrt(sum_i t_{df_i}^2 var_i), which keeps at least the nominal coverage
    where a Welch-Satterthwaite t interval falls to ~0.92 with 3 seeds (tests/test_stats_coverage.py).
    Null rows (unmeasured seeds) are dropped first. Raises ValueError on a malformed table or level.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t = measured_rows(table)
    parts = mean_components(t)
    mean = float(t.mean())
    var = sum(v for v, _ in parts.values())
    if var <= 0:
        return CrossedEstimate(mean, mean, mean, 0.0, 0.0, level, t.shape[0], t.shape[1], t.shape[0] > 1, parts)
    q = _student_t.ppf((1.0 + level) / 2.0, [df for _, df in parts.values()])
    half = float(np.sqrt(np.dot(q ** 2, [v for v, _ in parts.values()])))
    se = float(np.sqrt(var))
    return CrossedEstimate(mean, mean - half, mean + half, se, half / se, level, t.shape[0], t.shape[1],
                           t.shape[0] > 1, parts)


def win_rate_ci(outcomes, level: float = 0.95) -> CrossedEstimate:
    """Win rate (mean per-prompt score) of a run with its CI over seeds and prompts.

    ``outcomes``: array-like (S seeds, P prompts) of per-prompt scores in [0, 1] (win 1, tie 0.5,
    loss 0, averaged over samples and reference answers), the same prompts in the same order in every
    seed; a whole row may be null (that seed was not measured). Method: ``crossed_mean_ci``. Coverage
    (simulated, tests/test_stats_coverage.py) is 0.95-0.98 for S = 3 and 5 with seed SD 0 to 0.08 when
    seed means are normal; seeds skewed on the logit scale (SD 0.08 at 0.84) bring it to ~0.93.
    The interval is clipped to [0, 1] (``clipped``; mean and sem are not). A table without any spread
    (every seed scoring every prompt the same, e.g. all ties) has sem 0 and would give a zero-width
    interval: it gets ``no_spread_interval`` over its prompts instead. Raises ValueError on a
    malformed table.
    """
    t = measured_rows(outcomes)
    if t.min() < 0.0 or t.max() > 1.0:
        raise ValueError(f"win-rate scores lie in [0, 1], got values in [{t.min():g}, {t.max():g}]")
    est = crossed_mean_ci(t, level)
    if np.ptp(t) == 0:
        low, high = no_spread_interval(est.mean, t.shape[1], (0.0, 1.0), level)
        return replace(est, low=low, high=high)
    return clipped(est, 0.0, 1.0)


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
