"""Known-truth simulations of crossed (losses x seeds x prompts) outcome tables.

Used by the coverage tests of ``harness.stats`` (tests/) and by the benchmarks under benchmarks/. A
per-prompt score is the share of wins in ``samples`` Bernoulli comparisons with probability

    logit p[l, s, p] = c[l, s] + v[p] + w[l, p] + e[l, s, p]

v: prompt difficulty shared by every loss and seed (the crossed design: same prompts, same reference
answers); w: loss x prompt interaction; e: seed x prompt interaction (all normal, logit units).
c[l, s] is the centre that gives seed s of loss l the population mean win rate m[l, s] = win_rate[l]
+ seed_sd * N(0, 1): the seed effect is normal on the win-rate scale, and the truth of loss l (its
mean over seeds and the prompt population) is exactly ``win_rate[l]``. With ``seed_scale="logit"``
the seed effect is instead normal on the logit scale (skewed seed means near 0 or 1) and the truth is
``true_win_rate``.

Two-state seeds (``Bursts``): a seed of loss l bursts with probability p[l], independently of every
other seed and loss, and its mean win rate then moves by U(shift) (down by default: on the tiny suite a
burst crosses the KL budget early, so the win rate read there is lower). The truth is the mean over
that mixture, win_rate[l] + p[l] * E[move] (``true_win_rate``).
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


BURST_SIGNS = ("down", "up", "either")


@dataclass(frozen=True)
class Bursts:
    """Bimodal seed effects on the win-rate scale (``seed_scale="win_rate"`` only).

    Measured on the tiny suite at beta 0.1 (issue 27): 5 of 12 to 22 of 39 seeds crossed the KL budget
    inside a burst, and a seed's win rate at the budget fell with how early it crossed (0.48 points per
    optimizer step), 15-30 points between a calm seed and a bursting one."""

    p: tuple[float, ...] = (0.3,)  # burst probability per loss (one value: the same for every loss)
    shift: tuple[float, float] = (0.15, 0.30)  # a burst moves the seed's win rate by U(low, high)
    sign: str = "down"  # "down" (as measured), "up", or "either" (each with probability 1/2)

    def __post_init__(self):
        if not self.p or any(not 0.0 <= q <= 1.0 for q in self.p):
            raise ValueError(f"burst probabilities lie in [0, 1], got {self.p}")
        if not 0.0 <= self.shift[0] <= self.shift[1] < 1.0:
            raise ValueError(f"shift is (low, high) with 0 <= low <= high < 1, got {self.shift}")
        if self.sign not in BURST_SIGNS:
            raise ValueError(f"sign is one of {BURST_SIGNS}, got {self.sign!r}")

    def probability(self, loss: int, losses: int) -> float:
        if len(self.p) not in (1, losses):
            raise ValueError(f"Bursts.p gives {len(self.p)} probabilities for {losses} losses (give 1 or {losses})")
        return self.p[0] if len(self.p) == 1 else self.p[loss]

    @property
    def mean_move(self) -> float:
        """E[move of a bursting seed's win rate] (0 for "either")."""
        return {"down": -1.0, "up": 1.0, "either": 0.0}[self.sign] * (self.shift[0] + self.shift[1]) / 2

    def draw(self, losses: int, shape: tuple, rng) -> tuple[np.ndarray, np.ndarray]:
        """(burst, move) per (rep, loss, seed): whether the seed bursts (bool) and the move of its win
        rate (0 for a calm seed)."""
        p = np.array([self.probability(i, losses) for i in range(losses)])
        burst = rng.random(shape) < p[None, :, None]
        size = rng.uniform(self.shift[0], self.shift[1], shape)
        sign = {"down": -1.0, "up": 1.0}.get(self.sign)
        if sign is None:
            sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        return burst, burst * sign * size


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


def true_win_rate(win_rate: float, noise: NoiseModel, bursts: Bursts | None = None, loss: int = 0,
                  losses: int = 1) -> float:
    """The truth of a loss with nominal ``win_rate``: itself on the win-rate scale; with logit-scale
    seeds, E over seeds of the population mean (the seed effect shifts it near 0 and 1); with
    ``bursts``, loss number ``loss`` of ``losses`` moved by its burst probability x the mean move."""
    if bursts is not None:
        _check_bursts(noise)
        return float(win_rate) + bursts.probability(loss, losses) * bursts.mean_move
    if noise.seed_scale == "win_rate":
        return float(win_rate)
    total = np.hypot(noise.spread, _logit_seed_sd(win_rate, noise))
    return float(_population_means(centre_for([win_rate], noise), total)[0])


def _check_bursts(noise: NoiseModel) -> None:
    if noise.seed_scale != "win_rate":
        raise ValueError("two-state seeds (Bursts) move the win rate itself: use seed_scale='win_rate'")


def _seed_centres(win_rates: np.ndarray, noise: NoiseModel, shape: tuple, rng,
                  bursts: Bursts | None) -> tuple[np.ndarray, np.ndarray]:
    """(logit centres, burst mask) per (rep, loss, seed)."""
    z = rng.standard_normal(shape)
    burst = np.zeros(shape, dtype=bool)
    if noise.seed_scale == "win_rate":
        means = win_rates[None, :, None] + noise.seed_sd * z
        if bursts is not None:
            burst, move = bursts.draw(len(win_rates), shape, rng)
            means = means + move
        means = np.clip(means, 1e-4, 1 - 1e-4)
        return centre_for(means, noise), burst
    tau = np.array([_logit_seed_sd(w, noise) for w in win_rates])
    return centre_for(win_rates, noise)[None, :, None] + tau[None, :, None] * z, burst


def simulate(win_rates, noise: NoiseModel, seeds: int, prompts: int, reps: int,
             rng: np.random.Generator, bursts: Bursts | None = None, *, with_bursts: bool = False):
    """Outcome tables, shape (reps, L losses, seeds, prompts), scores in [0, 1] in steps of 1/samples;
    with ``with_bursts``, (tables, burst mask of shape (reps, L, seeds)): which seeds burst, as the
    stability diagnostic sees them (harness.suites.tiny.stability).

    ``win_rates``: the L losses' nominal win rates (see ``true_win_rate`` for the truth to cover);
    ``bursts``: two-state seeds (the random stream without them is unchanged). A seed mean moved
    outside (0, 1) is clipped there, which biases the truth: keep win_rate -+ shift inside (0, 1).
    """
    rates = np.atleast_1d(np.asarray(win_rates, dtype=float))
    n_loss = rates.size
    if bursts is not None:
        _check_bursts(noise)
    centres, burst = _seed_centres(rates, noise, (reps, n_loss, seeds), rng, bursts)
    z = (centres[..., None]
         + noise.prompt_sd * rng.standard_normal((reps, 1, 1, prompts))
         + noise.loss_prompt_sd * rng.standard_normal((reps, n_loss, 1, prompts))
         + noise.cell_sd * rng.standard_normal((reps, n_loss, seeds, prompts)))
    tables = rng.binomial(noise.samples, expit(z)) / noise.samples
    return (tables, burst) if with_bursts else tables
