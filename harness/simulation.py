"""Known-truth simulations of crossed (losses x seeds x prompts) outcome tables.

Used by the coverage tests of ``harness.stats`` and by the power benchmarks under benchmarks/. A
per-prompt score is the share of wins in ``samples`` Bernoulli comparisons with probability

    logit p[l, s, p] = c[l, s] + v[p] + w[l, p] + e[l, s, p]

v: prompt difficulty shared by every loss and seed (the crossed design: same prompts, same reference
answers); w: loss x prompt interaction; e: seed x prompt interaction (all normal, logit units).
c[l, s] is the centre that gives seed s of loss l the population mean win rate m[l, s] = win_rate[l]
+ seed_sd * N(0, 1): the seed effect is normal on the win-rate scale, and the truth of loss l (its
mean over seeds and the prompt population) is exactly ``win_rate[l]``. With ``seed_scale="logit"``
the seed effect is instead normal on the logit scale (skewed seed means near 0 or 1) and the truth is
``true_win_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(80)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_CENTRES = np.linspace(-12.0, 12.0, 4001)


@dataclass(frozen=True)
class NoiseModel:
    seed_sd: float = 0.02  # SD of a seed's population win rate around the loss's (win-rate units)
    prompt_sd: float = 1.0  # prompt difficulty, logit units
    loss_prompt_sd: float = 0.3  # loss x prompt interaction, logit units
    cell_sd: float = 0.3  # seed x prompt interaction, logit units
    samples: int = 4  # Bernoulli comparisons averaged into one per-prompt score
    seed_scale: str = "win_rate"  # where the seed effect is normal: "win_rate" or "logit"

    def __post_init__(self):
        if min(self.seed_sd, self.prompt_sd, self.loss_prompt_sd, self.cell_sd) < 0 or self.samples < 1:
            raise ValueError(f"noise SDs must be >= 0 and samples >= 1, got {self}")
        if self.seed_scale not in ("win_rate", "logit"):
            raise ValueError(f"seed_scale is 'win_rate' or 'logit', got {self.seed_scale!r}")

    @property
    def spread(self) -> float:
        """SD of the logit around a seed's centre over prompts and cells."""
        return float(np.sqrt(self.prompt_sd ** 2 + self.loss_prompt_sd ** 2 + self.cell_sd ** 2))


def _population_means(centres: np.ndarray, spread: float) -> np.ndarray:
    """E[expit(c + spread * Z)] for each centre c (Gauss-Hermite quadrature), increasing in c."""
    return expit(centres[:, None] + spread * _NODES[None, :]) @ _WEIGHTS


def centre_for(win_rates, noise: NoiseModel) -> np.ndarray:
    """Logit centres whose population mean win rate is ``win_rates`` (any shape, values in (0, 1))."""
    grid = _population_means(_CENTRES, noise.spread)
    return np.interp(np.asarray(win_rates, dtype=float), grid, _CENTRES)


def _logit_seed_sd(win_rate: float, noise: NoiseModel) -> float:
    """Logit-scale seed SD giving ~``noise.seed_sd`` on the win-rate scale (delta method)."""
    p = expit(centre_for(win_rate, noise) + noise.spread * _NODES)
    return noise.seed_sd / float(np.dot(_WEIGHTS, p * (1 - p)))


def true_win_rate(win_rate: float, noise: NoiseModel) -> float:
    """The truth of a loss with nominal ``win_rate``: itself on the win-rate scale; with logit-scale
    seeds, E over seeds of the population mean (the seed effect shifts it near 0 and 1)."""
    if noise.seed_scale == "win_rate":
        return float(win_rate)
    total = np.hypot(noise.spread, _logit_seed_sd(win_rate, noise))
    return float(_population_means(centre_for([win_rate], noise), total)[0])


def _seed_centres(win_rates: np.ndarray, noise: NoiseModel, shape: tuple, rng) -> np.ndarray:
    z = rng.standard_normal(shape)
    if noise.seed_scale == "win_rate":
        means = np.clip(win_rates[None, :, None] + noise.seed_sd * z, 1e-4, 1 - 1e-4)
        return centre_for(means, noise)
    tau = np.array([_logit_seed_sd(w, noise) for w in win_rates])
    return centre_for(win_rates, noise)[None, :, None] + tau[None, :, None] * z


def simulate(win_rates, noise: NoiseModel, seeds: int, prompts: int, reps: int,
             rng: np.random.Generator) -> np.ndarray:
    """Outcome tables, shape (reps, L losses, seeds, prompts), scores in [0, 1] in steps of 1/samples.

    ``win_rates``: the L losses' nominal win rates (see ``true_win_rate`` for the truth to cover).
    """
    rates = np.atleast_1d(np.asarray(win_rates, dtype=float))
    n_loss = rates.size
    centres = _seed_centres(rates, noise, (reps, n_loss, seeds), rng)
    z = (centres[..., None]
         + noise.prompt_sd * rng.standard_normal((reps, 1, 1, prompts))
         + noise.loss_prompt_sd * rng.standard_normal((reps, n_loss, 1, prompts))
         + noise.cell_sd * rng.standard_normal((reps, n_loss, seeds, prompts)))
    return rng.binomial(noise.samples, expit(z)) / noise.samples


def spearman_coverage(first, second, noise: NoiseModel, *, reps: int, resamples: int, seeds: int = 3,
                      prompts: tuple[int, int] = (256, 128), rng_seed: int = 1) -> dict:
    """Coverage of ``harness.agreement.spearman_bootstrap`` over ``reps`` simulated pairs of boards.

    Suite 1 holds losses with true win rates ``first`` on ``prompts[0]`` prompts, suite 2 the same
    losses with ``second`` on ``prompts[1]``; the truth is Spearman's rho between ``first`` and
    ``second``. Returns the truth, the coverage of the reported, percentile and basic intervals, and
    the reported interval's mean width.
    """
    from scipy.stats import spearmanr

    from harness.agreement import spearman_bootstrap

    truth = float(spearmanr(first, second).statistic)
    rng = np.random.default_rng(rng_seed)
    a = simulate(first, noise, seeds, prompts[0], reps, rng)
    b = simulate(second, noise, seeds, prompts[1], reps, rng)
    hits = {"spearman_ci": 0, "percentile_ci": 0, "basic_ci": 0}
    widths = []
    for r in range(reps):
        out = spearman_bootstrap(list(a[r]), list(b[r]), resamples=resamples, seed=r)
        for key in hits:
            hits[key] += out[key][0] <= truth <= out[key][1]
        widths.append(out["spearman_ci"][1] - out["spearman_ci"][0])
    return {"truth": truth, "coverage": hits["spearman_ci"] / reps, "coverage_percentile": hits["percentile_ci"] / reps,
            "coverage_basic": hits["basic_ci"] / reps, "mean_width": float(np.mean(widths)), "reps": reps}
