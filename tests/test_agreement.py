"""benchmarks/experiments/agreement.py: Spearman with a CI, pair-sign agreement, censored losses kept apart."""

import numpy as np
import pytest

from benchmarks.experiments.agreement import agreement, spearman_bootstrap
from benchmarks.experiments.agreement import board as verified_board
from benchmarks.validation.bench_agreement_coverage import spearman_coverage
from benchmarks.validation.simulation import NoiseModel


def record(suite: str, loss: str, table: np.ndarray, status=None) -> dict:
    seeds = list(range(table.shape[0]))
    return {"status": "ok", "loss": {"name": loss, "sha256": loss * 4}, "seeds": seeds,
            "suite": {"name": suite, "config_hash": f"{suite}-hash"},
            "outcomes": {"primary": "verdict", "prompts_sha256": f"{suite}-prompts",
                         "seed_status": status or ["measured"] * len(seeds),
                         "tables": {"verdict": [None if np.isnan(r).all() else r.tolist() for r in table]}}}


def board(records, table=None):
    """The statistics under test take the records as given (the filter on verification is
    tests/test_attack_evidence.py's)."""
    return verified_board(records, table, include_unverified=True)


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
    assert "e" not in out["losses"] and out["excluded"]["e"].startswith("0 of 3 seeds measured on s1")
    assert out["only_on"] == {"s1": [], "s2": ["only"]}


def test_a_loss_censored_on_some_seeds_is_listed_apart_as_on_its_board():
    rng = np.random.default_rng(2)
    t = tables(rng, MEANS, 40)
    t["c"][0] = np.nan  # seed 0 censored: the board shows c apart, never ranked on its survivors' mean
    first = board([record("s1", k, v, ["censored", "measured", "measured"] if k == "c" else None) for k, v in t.items()])
    assert first.seeds_measured("c") == (2, 3)
    out = agreement(first, board([record("s2", k, v) for k, v in tables(rng, MEANS, 40).items()]), resamples=200)
    assert "c" not in out["losses"] and out["excluded"]["c"].startswith("2 of 3 seeds measured on s1")


def test_boards_on_the_same_seeds_and_prompts_share_one_bootstrap_draw():
    rng = np.random.default_rng(3)
    t = tables(rng, MEANS, 40)
    first = board([record("s1", k, v) for k, v in t.items()])
    variant = board([dict(record("s2", k, v), outcomes={**record("s2", k, v)["outcomes"], "prompts_sha256": "s1-prompts"})
                     for k, v in t.items()])  # the same tables on the same prompts (a beta variant that changed nothing)
    out = agreement(first, variant, resamples=200)
    assert out["shared_draw"] and out["spearman_ci"] == pytest.approx([1.0, 1.0])  # identical in every replicate
    other = agreement(first, board([record("s3", k, v) for k, v in t.items()]), resamples=200)
    assert not other["shared_draw"] and other["spearman_ci"][0] < 1.0


def test_a_one_seed_comparison_never_counts_as_separated():
    rng = np.random.default_rng(4)
    one = {k: v[:1] for k, v in tables(rng, MEANS, 200).items()}  # a board of one-seed records
    out = agreement(board([record("s1", k, v) for k, v in one.items()]),
                    board([record("s2", k, v) for k, v in tables(rng, MEANS, 200).items()]), resamples=100)
    assert out["pairs_separated_on_both"] == 0 and out["pair_sign_agreement"] is None


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
