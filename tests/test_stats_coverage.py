"""Coverage of the crossed (seeds x prompts) intervals on simulations with known truth.

Tables shaped like the tiny board (256 prompts, win rates near 0.84, 4 comparisons per prompt, shared
prompt difficulty, seed SD 0 / 0.02 / 0.08): both intervals must cover the truth at ~95% (not below
0.93) without being wastefully wide (coverage at most 0.99; the SEM matches the spread of the means).

Two-state seeds (issue 27: a seed bursts with probability p and its win rate moves 15-30 points): the
paired interval covers two losses that burst alike; a loss that bursts while the other does not is not
covered at 3 seeds, and no interval that stays calibrated on calm seeds can be (the runs in which no seed
bursts look exactly like calm runs). benchmarks/validation/bench_stats_coverage.py measures the whole grid, the
fixes tried and their widths (benchmarks/results/stats_coverage.json; docs/stability.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.validation.simulation import Bursts, NoiseModel, simulate, true_win_rate
from harness.stats.crossed import crossed_mean_ci, win_rate_ci
from harness.stats.paired import paired_difference_ci, rerun_difference_ci

REPS = 1000
PROMPTS = 256
RATES = (0.84, 0.80)


def _coverage(estimates, truth):
    means = np.array([e.mean for e in estimates])
    covered = np.mean([e.low <= truth <= e.high for e in estimates])
    calibration = np.mean([e.sem for e in estimates]) / means.std(ddof=1)
    return float(covered), float(calibration)


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.0, 0.02, 0.08])
def test_crossed_intervals_cover_at_nominal_level(seeds, seed_sd):
    noise = NoiseModel(seed_sd=seed_sd)
    tables = simulate(RATES, noise, seeds, PROMPTS, REPS, np.random.default_rng(int(seeds * 100 + seed_sd * 1000)))
    truth_a, truth_b = (true_win_rate(w, noise) for w in RATES)
    single = [win_rate_ci(t[0]) for t in tables]
    paired = [paired_difference_ci(t[0], t[1]) for t in tables]
    for name, estimates, truth in (("win_rate_ci", single, truth_a), ("paired_difference_ci", paired, truth_a - truth_b)):
        covered, calibration = _coverage(estimates, truth)
        assert 0.93 <= covered <= 0.99, f"{name} S={seeds} seed_sd={seed_sd}: coverage {covered:.3f}"
        assert 0.8 <= calibration <= 1.25, f"{name} S={seeds} seed_sd={seed_sd}: SEM / SD of means {calibration:.2f}"


def test_pairing_removes_shared_prompt_noise():
    noise = NoiseModel(seed_sd=0.0)
    tables = simulate(RATES, noise, 3, PROMPTS, 1, np.random.default_rng(7))[0]
    diff = paired_difference_ci(tables[0], tables[1])
    unpaired = win_rate_ci(tables[0]).components["prompt"][0] + win_rate_ci(tables[1]).components["prompt"][0]
    assert diff.components["prompt"][0] < 0.3 * unpaired


def test_interval_is_mean_plus_minus_quantile_times_sem():
    table = simulate([0.84], NoiseModel(seed_sd=0.05), 3, 64, 1, np.random.default_rng(3))[0, 0]
    est = win_rate_ci(table)
    assert est.low == pytest.approx(max(0.0, est.mean - est.quantile * est.sem))
    assert est.high == pytest.approx(min(1.0, est.mean + est.quantile * est.sem))  # clipped to [0, 1]
    assert est.seed_noise and est.seeds == 3 and est.prompts == 64
    assert set(est.components) == {"seed", "prompt"}


def test_intervals_are_clipped_to_the_range_of_the_quantity():
    """A 2 x 4 table whose unclipped interval is about [-0.17, 1.55]: the win rate's interval is cut to
    [0, 1] and a paired difference's to [-1, 1]; mean, sem and quantile stay the unclipped ones."""
    table = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.5, 1.0]])
    raw = crossed_mean_ci(table)
    assert raw.low < 0.0 or raw.high > 1.0  # the case the clipping is for
    est = win_rate_ci(table)
    assert 0.0 <= est.low <= est.mean <= est.high <= 1.0
    assert (est.low, est.high) == (max(raw.low, 0.0), min(raw.high, 1.0))
    assert (est.mean, est.sem, est.quantile) == (raw.mean, raw.sem, raw.quantile)
    diff = paired_difference_ci(table, 1.0 - table)
    raw_diff = crossed_mean_ci(table - (1.0 - table))
    assert raw_diff.high > 1.0 and diff.high == 1.0 and diff.low == max(raw_diff.low, -1.0)
    assert (diff.mean, diff.sem) == (raw_diff.mean, raw_diff.sem)
    rerun = rerun_difference_ci(table, np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]]))
    assert rerun.mean + rerun.half_width > 1.0 and rerun.high == 1.0 and -1.0 < rerun.low < rerun.mean


def test_null_seed_rows_are_dropped_and_paired_on_common_seeds():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(size=(3, 16)), rng.uniform(size=(3, 16))
    a_null = a.tolist()
    a_null[1] = [None] * 16
    assert win_rate_ci(a_null).seeds == 2
    assert win_rate_ci(a_null).mean == pytest.approx(a[[0, 2]].mean())
    diff = paired_difference_ci(a_null, b)
    assert diff.seeds == 2 and diff.mean == pytest.approx((a[[0, 2]] - b[[0, 2]]).mean())


def test_one_seed_says_training_noise_is_not_in_the_interval():
    est = win_rate_ci(np.random.default_rng(1).uniform(size=(1, 32)))
    assert not est.seed_noise and est.low < est.mean < est.high


@pytest.mark.parametrize("bad, message", [
    ([[0.5, None], [0.5, 0.5]], "only whole rows"),
    ([[None, None]], "no seed"),
    ([0.5, 0.5], "seeds x prompts"),
    ([[1.5, 0.5]], "in \\[0, 1\\]"),
])
def test_malformed_tables_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        win_rate_ci(bad)


def test_paired_tables_must_match():
    with pytest.raises(ValueError, match="same"):
        paired_difference_ci(np.zeros((3, 4)), np.zeros((3, 5)))


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.0, 0.02, 0.08])
def test_rerun_difference_covers_with_fresh_seeds(seeds, seed_sd):
    """`harness ci`'s interval: two runs of one loss (then with a 5-point drop), independent seeds."""
    noise = NoiseModel(seed_sd=seed_sd, loss_prompt_sd=0.0)
    rng = np.random.default_rng(int(seeds * 10 + seed_sd * 100))
    for drop in (0.0, 0.05):
        tables = simulate([0.84 - drop, 0.84], noise, seeds, PROMPTS, 600, rng)
        covered = np.mean([(lambda d: d.low <= -drop <= d.high)(rerun_difference_ci(t[0], t[1])) for t in tables])
        assert 0.93 <= covered <= 0.99, f"S={seeds} seed_sd={seed_sd} drop={drop}: coverage {covered:.3f}"


# ------------------------------------------------------------------ two-state seeds (issue 27)

TWO_STATE_REPS = 800


def test_two_state_seeds_move_the_truth_by_p_times_the_mean_burst():
    noise, bursts = NoiseModel(seed_sd=0.02), Bursts(p=(0.3, 0.0))
    tables = simulate(RATES, noise, 3, 16, 4000, np.random.default_rng(11), bursts)
    truth = [true_win_rate(w, noise, bursts, i, 2) for i, w in enumerate(RATES)]
    assert truth == pytest.approx([0.84 - 0.3 * 0.225, 0.80])
    assert tables.mean(axis=(0, 2, 3)) == pytest.approx(truth, abs=0.006)  # the simulated means agree
    seed_means = tables[:, 0].mean(axis=2).ravel()
    assert 0.2 < np.mean(seed_means < 0.84 - 0.1) < 0.4  # ~30% of the seeds sit 15-30 points lower
    either = Bursts(p=(0.5,), sign="either")
    assert true_win_rate(0.6, noise, either) == 0.6 and Bursts(sign="up").mean_move == pytest.approx(0.225)


@pytest.mark.parametrize("bad, message", [
    (dict(p=(1.2,)), "probabilities"), (dict(shift=(0.3, 0.1)), "shift"), (dict(sign="sideways"), "sign"),
])
def test_bursts_settings_are_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        Bursts(**bad)
    with pytest.raises(ValueError, match="seed_scale='win_rate'"):
        simulate(RATES, NoiseModel(seed_scale="logit"), 3, 8, 2, np.random.default_rng(0), Bursts())
    with pytest.raises(ValueError, match="3 probabilities for 2 losses"):
        simulate(RATES, NoiseModel(), 3, 8, 2, np.random.default_rng(0), Bursts(p=(0.1, 0.2, 0.3)))


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("p", [0.15, 0.3, 0.5])
def test_paired_interval_covers_two_losses_that_burst_alike(seeds, p):
    noise, bursts = NoiseModel(seed_sd=0.02), Bursts(p=(p, p))
    tables = simulate(RATES, noise, seeds, PROMPTS, TWO_STATE_REPS, np.random.default_rng(int(100 * p) + seeds),
                      bursts)
    truth = RATES[0] - RATES[1]  # the same p: the bursts' shifts cancel in the truth, not in the runs
    covered = np.mean([(lambda d: d.low <= truth <= d.high)(paired_difference_ci(t[0], t[1])) for t in tables])
    assert 0.93 <= covered <= 0.995, f"S={seeds} p={p}: coverage {covered:.3f}"


def _covered(tables, truth, paired: bool) -> np.ndarray:
    fn = (lambda t: paired_difference_ci(t[0], t[1])) if paired else (lambda t: win_rate_ci(t[0]))
    return np.array([(lambda e: e.low <= truth <= e.high)(fn(t)) for t in tables])


@pytest.mark.parametrize("paired", [False, True], ids=["win_rate_ci", "paired_difference_ci"])
@pytest.mark.parametrize("p", [0.15, 0.3, 0.5])
def test_at_3_seeds_the_runs_without_a_burst_cap_the_coverage_of_an_unstable_loss(p, paired):
    """A loss whose seeds burst with probability p (against a calm one when paired). In the (1 - p)^3 runs
    where no seed bursts the tables are distributed exactly as calm ones, yet the truth lies p x 22.5
    points below their mean, so ANY interval covers at most 1 - (1 - p)^3 (1 - c0), c0 its coverage
    of that shifted truth on calm tables. For the default interval this bound is below the 0.93 target
    at every p: reaching it needs a calm-seed interval about twice as wide (bench_stats_coverage.py's
    needed_factor), beyond the 0.99 calm coverage the tests above allow. If this fails because the
    interval changed, re-run the benchmark and update docs/stability.md."""
    noise, bursts = NoiseModel(seed_sd=0.02), Bursts(p=(p, 0.0))
    rng = np.random.default_rng(int(1000 * p) + paired)
    truth = true_win_rate(RATES[0], noise, bursts, 0, 2) - (RATES[1] if paired else 0.0)
    calm = simulate(RATES, noise, 3, PROMPTS, TWO_STATE_REPS, rng)
    bound = 1 - (1 - p) ** 3 * (1 - _covered(calm, truth, paired).mean())
    coverage = _covered(simulate(RATES, noise, 3, PROMPTS, TWO_STATE_REPS, rng, bursts), truth, paired).mean()
    slack = 3 * np.sqrt(2 * 0.25 / TWO_STATE_REPS)  # Monte Carlo error of the two estimates
    assert coverage <= bound + slack, f"p={p}: coverage {coverage:.3f} above the bound {bound:.3f}"
    assert coverage < 0.93 and bound < 0.93, f"p={p}: coverage {coverage:.3f}, bound {bound:.3f}"


@pytest.mark.parametrize("mode", ["one", "both"])
@pytest.mark.parametrize("p", [0.08, 0.3])
def test_the_calm_seed_reading_covers_the_calm_win_rate(p, mode):
    """Where the mixture's mean is not covered, the interval over the seeds that did not burst (the
    stability diagnostic sees them) covers the loss's calm win rate: harness.suites.tiny.summary's
    calm-seed reading. Tables with fewer than 2 calm seeds give no interval and are not counted."""
    from benchmarks.validation.bench_stats_coverage import calm_reading

    noise, bursts = NoiseModel(seed_sd=0.02), Bursts(p=(p, p) if mode == "both" else (p, 0.0))
    tables, burst = simulate(RATES, noise, 3, PROMPTS, TWO_STATE_REPS, np.random.default_rng(int(1000 * p) + len(mode)),
                             bursts, with_bursts=True)
    reading = calm_reading(tables, burst, RATES)
    made = 1 - reading["paired_difference_ci"]["no_interval"]
    assert made * TWO_STATE_REPS >= TWO_STATE_REPS // 3  # enough tables keep 2 calm seeds to judge
    for name, r in reading.items():
        assert 0.93 <= r["coverage"] <= 0.995, f"p={p} {mode} {name}: coverage {r['coverage']:.3f}"
