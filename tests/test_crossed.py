"""Coverage of the crossed-design CIs (harness.crossed) on simulations with known truth: seed, prompt
and sampling noise, crossed, as in the tiny suite's (seeds x prompts) outcome tables."""

import numpy as np
import pytest

from harness.crossed import crossed_ci, paired_ci, sem_of
from harness.stats import bootstrap_ci

SIMS = 1000  # per setting; the binomial SE of a 95% coverage estimate is then ~0.007
PROMPTS = 256  # the tiny suite's evaluation set
LOW, HIGH = 0.92, 0.978  # the goal (>= ~0.93, not needlessly conservative) widened by ~1.5 binomial SE


def _table(rng, seeds, prompts, seed_sd, prompt_sd=0.15, resid_sd=0.2, prompt_effects=None):
    b = rng.normal(0, prompt_sd, prompts) if prompt_effects is None else prompt_effects
    return 0.8 + rng.normal(0, seed_sd, seeds)[:, None] + b[None, :] + rng.normal(0, resid_sd, (seeds, prompts))


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.0, 0.02, 0.08])
def test_mean_ci_covers_at_its_nominal_level(seeds, seed_sd):
    """The truth is the population mean (new seeds AND new prompts): 0.8."""
    rng = np.random.default_rng(seeds * 100 + int(seed_sd * 1000))
    hits, widths = 0, []
    for _ in range(SIMS):
        est = crossed_ci(_table(rng, seeds, PROMPTS, seed_sd))
        hits += est.low <= 0.8 <= est.high
        widths.append(est.high - est.low)
    assert LOW <= hits / SIMS <= HIGH, (hits / SIMS, np.mean(widths))


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.0, 0.05])
def test_paired_difference_ci_covers_with_shared_prompts(seeds, seed_sd):
    """Two losses on the same prompts: the shared prompt effect cancels in the paired difference; the
    truth is the difference of population means (0.03)."""
    rng = np.random.default_rng(7 + seeds)
    hits = 0
    for _ in range(SIMS):
        shared = rng.normal(0, 0.15, PROMPTS)
        a = _table(rng, seeds, PROMPTS, seed_sd, prompt_effects=shared) + 0.03 + rng.normal(0, 0.05, PROMPTS)[None, :]
        b = _table(rng, seeds, PROMPTS, seed_sd, prompt_effects=shared)
        est = paired_ci(a, b)
        hits += est.low <= 0.03 <= est.high
    assert LOW <= hits / SIMS <= HIGH, hits / SIMS


def test_seed_variance_widens_the_interval_where_a_prompt_bootstrap_would_not():
    rng = np.random.default_rng(3)
    y = _table(rng, 3, 256, seed_sd=0.08)
    crossed = crossed_ci(y)
    flat = bootstrap_ci(y.ravel())
    assert crossed.high - crossed.low > 3 * (flat.high - flat.low)


def test_sem_agrees_with_the_interval():
    est = crossed_ci(np.random.default_rng(0).uniform(size=(3, 64)))
    from scipy import stats

    assert (est.high - est.low) / 2 == pytest.approx(stats.t.ppf(0.975, est.df) * sem_of(est))


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.array([[0.5, np.nan]])])
def test_bad_tables_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError, match="crossed CI"):
        crossed_ci(bad)


def test_paired_tables_must_have_the_same_shape():
    with pytest.raises(ValueError, match="same"):
        paired_ci(np.zeros((2, 3)), np.zeros((3, 3)))
