"""The paper suites' LC win rate gets the crossed seeds x prompts CI (per-prompt pseudo-values of
the length GLM), checked for coverage on simulations with known truth."""

import numpy as np
import pytest

from harness.judges.winrate import fit_length_glm, length_feature
from harness.suites.paper.judging import aggregate, lc_prompt_values


def _seed(rng, prompts, win, seed_shift):
    """Two answers per prompt; preference independent of length, so the true LC is the win rate."""
    groups = np.repeat(np.arange(prompts), 2)
    logit = np.log(win / (1 - win)) + seed_shift
    y = (rng.uniform(size=groups.size) < 1 / (1 + np.exp(-logit))).astype(float)
    out, ref = rng.integers(100, 900, groups.size), rng.integers(100, 900, groups.size)
    return y, out, ref, groups


def test_pseudo_values_average_to_the_lc_win_rate():
    rng = np.random.default_rng(1)
    y, out, ref, groups = _seed(rng, 120, 0.7, 0.0)
    values = lc_prompt_values(y, out, ref, groups, list(range(120)))
    b0, _ = fit_length_glm(y, length_feature(out, ref))
    assert values.shape == (120,) and values.mean() == pytest.approx(1 / (1 + np.exp(-b0)))


def test_crossed_lc_ci_covers_and_its_sem_agrees():
    """3 seeds (seed SD 0.1 on the logit scale) answering the same 100 prompts; true LC 0.7."""
    rng = np.random.default_rng(2)
    hits, sims = 0, 300
    for _ in range(sims):
        arrays = []
        for _s in range(3):
            y, out, ref, groups = _seed(rng, 100, 0.7, rng.normal(0, 0.1))
            arrays.append({"win": np.array([y[groups == g].mean() for g in range(100)]),
                           "lc": lc_prompt_values(y, out, ref, groups, list(range(100)))})
        m = aggregate([{} for _ in arrays], arrays)
        lo, hi = m["lc_win_rate_ci"]
        hits += lo <= 0.7 <= hi
        assert hi - lo > 0 and m["lc_win_rate_sem"] > 0
    assert 0.92 <= hits / sims <= 0.99, hits / sims
