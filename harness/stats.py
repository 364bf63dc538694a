"""Uncertainty for every metric: percentile bootstrap confidence intervals and standard errors.

Win rates are means of per-comparison preferences in [0, 1] (ties count 0.5). Samples of one prompt
are correlated, so ``bootstrap_ci`` resamples clusters (prompts) when ``groups`` is given; seeds are
another level of clustering (resample seeds, then prompts within each seed) in ``hierarchical_ci``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def bootstrap_ci(values, groups=None, *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap CI; resamples whole groups when given."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, v.size, size=(resamples, v.size))
        boots = v[idx].mean(axis=1)
    else:
        g = np.asarray(groups)
        keys, inverse = np.unique(g, return_inverse=True)
        sums = np.bincount(inverse, weights=v, minlength=len(keys))
        counts = np.bincount(inverse, minlength=len(keys)).astype(float)
        pick = rng.integers(0, len(keys), size=(resamples, len(keys)))
        boots = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = _percentiles(boots, level)
    return Estimate(float(v.mean()), lo, hi, sem(v), int(v.size))


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


def paired_difference_ci(a, b, *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Estimate:
    """CI of mean(a - b) for paired per-item values (same prompts, same order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, level=level, resamples=resamples, seed=seed)


def difference_ci(a: Estimate, b: Estimate, level_z: float = 1.959964) -> Estimate:
    """CI of a - b for two independent estimates, from their CI half-widths (normal approximation)."""
    ha, hb = (a.high - a.low) / 2.0, (b.high - b.low) / 2.0
    half = float(np.hypot(ha, hb))
    d = a.mean - b.mean
    return Estimate(d, d - half, d + half, half / level_z, min(a.n, b.n))
