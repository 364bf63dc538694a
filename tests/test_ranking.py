"""Joint paired ranking: family-wise error on boards of identical losses, power and rank intervals."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.validation.simulation import NoiseModel, simulate
from harness.stats.ranks import joint_ranking, moderate

SEEDS = [0, 1, 2]


def _rank(tables):
    keys = [f"l{i:02d}" for i in range(len(tables))]
    return joint_ranking(dict(zip(keys, tables, strict=True)), {k: SEEDS for k in keys})


def _boards(rates, seed_sd, reps, rng_seed, mixed_sd=None):
    rng = np.random.default_rng(rng_seed)
    x = simulate(rates, NoiseModel(seed_sd=seed_sd), 3, 256, reps, rng)
    if mixed_sd is not None:  # the second half of the entries are unstable
        half = len(rates) // 2
        x[:, half:] = simulate(rates[half:], NoiseModel(seed_sd=mixed_sd), 3, 256, reps, rng)
    return x


@pytest.mark.parametrize("seed_sd, mixed_sd", [(0.02, None), (0.08, None), (0.02, 0.08)])
def test_identical_losses_are_rarely_shown_apart(seed_sd, mixed_sd):
    boards = _boards([0.84] * 20, seed_sd, 150, 11, mixed_sd)
    any_separated = np.mean([_rank(b).separability > 0 for b in boards])
    assert any_separated <= 0.08, f"{any_separated:.3f} of boards of 20 identical losses show a separated pair"


def test_a_spread_board_is_separated_and_rank_intervals_cover_the_true_ranks():
    rates = np.linspace(0.50, 0.86, 20)
    truth = {f"l{i:02d}": 20 - i for i in range(20)}
    covered, separability = [], []
    for board in _boards(rates, 0.02, 20, 5):
        r = _rank(board)
        separability.append(r.separability)
        covered.append(all(lo <= truth[k] <= hi for k, (lo, hi) in r.rank_intervals.items()))
        assert r.pair("l19", "l00").separated and r.pair("l19", "l00").difference > 0.3
    assert np.mean(separability) > 0.5 and np.mean(covered) >= 0.9


def test_clear_and_identical_entries_get_point_and_full_rank_intervals():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.7, size=(1, 64)) + 0.01 * rng.standard_normal((3, 64))
    clear = joint_ranking({"a": base + 0.2, "b": base, "c": base - 0.2}, {k: SEEDS for k in "abc"})
    assert clear.order == ("a", "b", "c") and clear.rank_intervals == {"a": (1, 1), "b": (2, 2), "c": (3, 3)}
    assert clear.separability == 1.0 and clear.pair("c", "a").difference == pytest.approx(-0.4)
    same = joint_ranking({"a": base, "b": base + 1e-4 * rng.standard_normal((3, 64))}, {k: SEEDS for k in "ab"})
    assert set(same.rank_intervals.values()) == {(1, 2)} and same.separability == 0.0


def test_entries_on_other_prompt_counts_are_refused():
    with pytest.raises(ValueError, match="prompt counts"):
        joint_ranking({"a": np.zeros((3, 4)), "b": np.zeros((3, 5))}, {"a": SEEDS, "b": SEEDS})


def test_moderation_pools_agreeing_variances_and_keeps_differing_ones_apart():
    rng = np.random.default_rng(0)
    agree = rng.chisquare(2, 200) / 2
    pooled, df = moderate(agree, 2, 1000)
    assert df > 10 and np.ptp(pooled) < np.ptp(agree) / 3
    differ = np.concatenate([agree, 100 * agree])
    kept, df2 = moderate(differ, 2, 1000)
    assert df2 < df and kept[200:].mean() > 10 * kept[:200].mean()
