"""harness.agreement: Spearman with a CI, pair-sign agreement, censored losses kept apart."""

import numpy as np
import pytest

from harness.agreement import agreement, board, spearman_bootstrap
from harness.simulation import NoiseModel, spearman_coverage


def record(suite: str, loss: str, table: np.ndarray, status=None) -> dict:
    seeds = list(range(table.shape[0]))
    return {"status": "ok", "loss": {"name": loss, "sha256": loss * 4}, "seeds": seeds,
            "suite": {"name": suite, "config_hash": f"{suite}-hash"},
            "outcomes": {"primary": "verdict", "prompts_sha256": f"{suite}-prompts",
                         "seed_status": status or ["measured"] * len(seeds),
                         "tables": {"verdict": [None if np.isnan(r).all() else r.tolist() for r in table]}}}


def tables(rng, means, prompts: int, sd=0.02) -> dict[str, np.ndarray]:
    return {name: np.clip(m + rng.normal(0, sd, (3, 1)) + rng.normal(0, 0.3, (3, prompts)), 0, 1)
            for name, m in means.items()}


MEANS = {"a": 0.2, "b": 0.35, "c": 0.5, "d": 0.65, "e": 0.8}


def test_same_order_agrees_and_reversed_order_disagrees():
    rng = np.random.default_rng(0)
    first = board([record("s1", k, t) for k, t in tables(rng, MEANS, 200).items()])
    same = board([record("s2", k, t) for k, t in tables(rng, MEANS, 100).items()])
    flipped = board([record("s3", k, t) for k, t in tables(rng, {k: 1 - m for k, m in MEANS.items()}, 100).items()])
    out = agreement(first, same, resamples=300)
    assert out["spearman"] == pytest.approx(1.0) and out["spearman_ci"][1] == pytest.approx(1.0)
    assert out["losses"] == sorted(MEANS) and out["pair_sign_agreement"] == 1.0
    assert out["pairs_separated_on_both"] >= 6  # 0.15 apart on 200/100 prompts: most pairs separate
    back = agreement(first, flipped, resamples=300)
    assert back["spearman"] == pytest.approx(-1.0) and back["spearman_ci"][0] == pytest.approx(-1.0)
    assert back["pair_sign_agreement"] == 0.0


def test_a_loss_censored_on_every_seed_is_listed_apart_not_ranked():
    rng = np.random.default_rng(1)
    t1, t2 = tables(rng, MEANS, 50), tables(rng, MEANS, 50)
    t1["e"][:] = np.nan
    first = board([record("s1", k, t, ["censored"] * 3 if k == "e" else None) for k, t in t1.items()])
    second = board([record("s2", k, t) for k, t in t2.items()] + [record("s2", "only", t2["a"])])
    out = agreement(first, second, resamples=100)
    assert "e" not in out["losses"] and "no measured seed on s1" in out["excluded"]["e"]
    assert out["only_on"] == {"s1": [], "s2": ["only"]}


def test_a_censored_seed_stays_unmeasured_inside_the_bootstrap():
    rng = np.random.default_rng(2)
    t = tables(rng, MEANS, 40)
    t["c"][0] = np.nan  # seed 0 censored: the loss's mean uses seeds 1 and 2 only
    first = board([record("s1", k, v, ["censored", "measured", "measured"] if k == "c" else None) for k, v in t.items()])
    assert np.isnan(first.rows("c")[0]).all() and not np.isnan(first.rows("c")[1:]).any()
    second = board([record("s2", k, v) for k, v in tables(rng, MEANS, 40).items()])
    out = agreement(first, second, resamples=200)
    assert out["means"]["c"][0] == pytest.approx(np.nanmean(t["c"]))
    assert out["seeds_measured"]["c"] == [2, 3] and out["dropped_resamples"] == 0


def test_board_refuses_mixed_configs_and_duplicate_losses():
    t = np.full((3, 4), 0.5)
    with pytest.raises(ValueError, match="one suite config"):
        board([record("s1", "a", t), record("s2", "b", t)])
    with pytest.raises(ValueError, match="two ok records"):
        board([record("s1", "a", t), record("s1", "a", t)])
    with pytest.raises(ValueError, match="3\\+ losses"):
        spearman_bootstrap([t, t], [t, t])


FIRST = np.linspace(0.4, 0.85, 9)


@pytest.mark.parametrize("second,sd", [(np.linspace(0.45, 0.75, 9), 0.08),  # rho 1
                                       ([.45, .5, .62, .55, .7, .6, .75, .68, .72], 0.08),  # rho 0.82
                                       ([.6, .5, .7, .55, .65, .5, .62, .58, .6], 0.03)])  # rho 0.03
def test_spearman_ci_covers_the_true_rank_correlation(second, sd):
    """Known truth: rho between the suites' true win rates; 60 simulated board pairs per setting. The
    full figures (200 reps, both seed SDs) are in benchmarks/results/agreement_coverage.json."""
    out = spearman_coverage(FIRST, second, NoiseModel(seed_sd=sd), reps=60, resamples=200, prompts=(64, 32))
    assert out["coverage"] >= 0.88, out
