"""Intervals of the mean of a (seeds x prompts) table of per-prompt scores (a crossed design).

Runs of a suite form (S seeds x P prompts) tables of per-prompt scores on prompts shared by every
seed and every loss. ``win_rate_ci`` gives their mean an interval from the two-way crossed
random-effects ANOVA with Banerjee's interval for a sum of independently estimated variance pieces
(``crossed_mean_ci``); differences of two tables are in harness.stats.paired.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import t as _student_t

from harness.stats.intervals import no_spread_interval


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
