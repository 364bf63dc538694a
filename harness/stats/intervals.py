"""Intervals of a mean of items or a proportion: percentile bootstraps, cluster-robust SEMs, Wilson.

The percentile bootstraps (``bootstrap_ci`` over items or clusters, ``hierarchical_ci`` over seeds then
items) serve per-seed summaries of suites that have no outcomes table (the LC win rate of
harness.judges.winrate, the paper suites' judging); with 3 seeds a percentile bootstrap sees only
~2/3 of the seed variance, so a (seeds x prompts) table gets harness.stats.crossed instead.
``clopper_pearson_ci``: a share of seeds (e.g. those that burst); ``wilson_ci`` is kept for records made
before it (their stored burst interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest as _binomtest

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


def _check_counts(k, n) -> None:
    if not (isinstance(k, int | np.integer) and isinstance(n, int | np.integer) and 0 <= k <= n and n >= 1):
        raise ValueError(f"a proportion needs integers 0 <= k <= n, n >= 1; got k={k!r}, n={n!r}")


def clopper_pearson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (1934) "exact" interval of a binomial proportion k / n (e.g. the share of seeds
    that burst): its coverage is >= ``level`` at every true proportion (scipy's
    ``binomtest(k, n).proportion_ci(method="exact")``). The default for burst rates: at the few seeds
    and low rates of a calm suite the Wilson interval covers only ~0.83 (n = 3 to 14, p near 1/(2n);
    benchmarks/validation/bench_stats_coverage.py, "proportions"). Raises ValueError unless
    0 <= k <= n and n >= 1."""
    _check_counts(k, n)
    ci = _binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval of a binomial proportion k / n (e.g. the share of seeds that burst):
    it stays inside [0, 1] and keeps close to nominal coverage for small n and k = 0 or n, where the
    Wald interval collapses to a point. scipy's ``binomtest(k, n).proportion_ci(method="wilson")``.
    Its coverage dips to ~0.83 at low true proportions with few trials (``clopper_pearson_ci``), so
    burst rates use Clopper-Pearson; records made before that carry this interval.
    Raises ValueError unless 0 <= k <= n and n >= 1."""
    _check_counts(k, n)
    ci = _binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)
