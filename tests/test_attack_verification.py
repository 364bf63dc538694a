"""Forged records against `harness submit --record` (issue 29 item 1): fabricated seeds must not verify.

The re-run is replaced by a double that returns what an honest re-run here would (the true record,
restricted to the seeds asked for), so the rule of harness.leaderboard.rerun is tested on synthetic
records in milliseconds; the real re-run is tests/test_submit_proof.py's slow tier. The threat table
is at the top of harness/sandbox/__init__.py ("published results").
"""

from __future__ import annotations

import copy
import random
import types

import numpy as np
import pytest
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_records import SUITE_HASH
from test_submit import env as submit_env  # noqa: F401  (a fixture: the board and store in tmp_path)
from test_submit import submit, write

import harness.reproduce
from harness.leaderboard.publish import open_board
from harness.leaderboard.rerun import (
    AGREES,
    CONTRADICTS,
    PROVES_NOTHING,
    choose_seeds,
    false_accept_rate,
    judge,
    verify_by_rerun,
)
from harness.stats.crossed import win_rate_ci


def subset(record: dict, seeds: list[int]) -> dict:
    """The record an honest re-run of ``seeds`` here gives: the true record's rows for those seeds."""
    idx = [record["seeds"].index(s) for s in seeds]
    out = copy.deepcopy(record)
    out["seeds"], out["per_seed"] = list(seeds), [out["per_seed"][i] for i in idx]
    for name, rows in out["outcomes"]["tables"].items():
        out["outcomes"]["tables"][name] = [rows[i] for i in idx]
    out["outcomes"]["seed_status"] = [out["outcomes"]["seed_status"][i] for i in idx]
    return out


def rewrite_seed(record: dict, i: int, row) -> dict:
    """``record`` with seed i's outcomes replaced and EVERY aggregate recomputed (a consistent forgery)."""
    record = copy.deepcopy(record)
    record["outcomes"]["tables"]["verdict"][i] = [round(float(x), 4) for x in row]
    record["per_seed"][i]["win_rate"] = float(np.mean(record["outcomes"]["tables"]["verdict"][i]))
    rows = [r for r in record["outcomes"]["tables"]["verdict"] if r is not None]
    est = win_rate_ci(np.array(rows))
    record["metrics"].update(win_rate=float(np.mean(rows)), win_rate_ci=[est.low, est.high])
    return record


@pytest.fixture
def truth():
    """DPO's true record: 3 seeds x 64 prompts, about 0.83."""
    return record_with_outcomes("dpo", outcome_tables([0.83], seeds=3, prompts=64, rng_seed=4)[0], verified=None)


@pytest.fixture
def honest_rerun(monkeypatch, truth):
    """harness.reproduce.reproduce replaced by the honest re-run of ``truth``; records the seeds asked for."""
    asked = []

    def reproduce(record, *, seeds=None, tolerance=0.0, **kw):
        asked.append(list(seeds))
        return types.SimpleNamespace(rerun=subset(truth, seeds))

    monkeypatch.setattr(harness.reproduce, "reproduce", reproduce)
    return asked


def test_the_red_teams_forgery_is_refused(submit_env, honest_rerun, truth):  # noqa: F811
    """Seed 0 kept (+2 points on a few prompts), 0.99 on every prompt of seeds 1 and 2, every aggregate
    and the crossed CI recomputed: every seed is re-run and the fabricated ones contradict it."""
    forged = copy.deepcopy(truth)
    row0 = np.array(forged["outcomes"]["tables"]["verdict"][0])
    row0[:8] = np.minimum(1.0, row0[:8] + 0.16)  # +2 points on seed 0, spread over 8 prompts
    forged = rewrite_seed(forged, 0, row0)
    for i in (1, 2):
        forged = rewrite_seed(forged, i, np.full(64, 0.99))
    out = submit(submit_env, "--record", write(submit_env, forged, sign=False))
    assert out.exit_code == 1 and "contradicted" in out.output, out.output
    assert honest_rerun == [[0, 1, 2]]  # every seed, the verifier's choice
    for seed in (0, 1, 2):
        assert f"seed {seed} contradicts" in out.output
    assert not submit_env.board.exists() or not list(submit_env.board.rglob("*.json"))


def test_an_honest_record_is_verified_and_the_board_says_which_seeds_were_rerun(submit_env, honest_rerun, truth):  # noqa: F811
    out = submit(submit_env, "--record", write(submit_env, truth, sign=False))
    assert out.exit_code == 0 and "at rank 1" in out.output, out.output
    board = open_board(submit_env.board, suite="tiny", expected_hash=SUITE_HASH)
    assert board.entries[0].proof == "seeds 0, 1, 2 of 3 re-run here"
    assert "seeds 0, 1, 2 of 3 re-run here" in (submit_env.board / "README.md").read_text()


def test_outcomes_moved_between_prompts_contradict_the_record(truth):
    """The same seed win rate, outcomes swapped between prompts (which changes every paired comparison)."""
    forged = copy.deepcopy(truth)
    forged["outcomes"]["tables"]["verdict"][1] = list(reversed(forged["outcomes"]["tables"]["verdict"][1]))
    verdict = judge(forged, subset(truth, [0, 1, 2]), [0, 1, 2], 0.0, sampled=False)
    outcomes = [s.outcome for s in verdict.seeds]
    assert outcomes == [AGREES, CONTRADICTS, AGREES] and verdict.contradicted
    assert verdict.seeds[1].claimed == pytest.approx(verdict.seeds[1].measured)  # the win rate alone agrees


def test_censored_on_both_sides_proves_nothing(truth):
    """A loss whose seeds never reach the budget verified anything before (None == None): now a seed
    without a value proves nothing, and a record whose re-run seeds all prove nothing is not verified."""
    censored = record_with_outcomes("never_moves", outcome_tables([0.5], seeds=3, prompts=64)[0],
                                    seed_status=["censored"] * 3, verified=None)
    claim = copy.deepcopy(censored)
    claim["loss"]["name"] = "claims_anything"
    verdict = judge(claim, subset(censored, [0, 1, 2]), [0, 1, 2], 0.0, sampled=False)
    assert [s.outcome for s in verdict.seeds] == [PROVES_NOTHING] * 3
    assert not verdict.verified and not verdict.contradicted and "nothing was proven" in verdict.message
    # censored in the record but measured here (a bad seed hidden as censored) contradicts it
    hidden = record_with_outcomes("dpo", np.array(truth["outcomes"]["tables"]["verdict"], dtype=float),
                                  seed_status=["measured", "censored", "censored"], verified=None)
    verdict = judge(hidden, subset(truth, [0, 1, 2]), [0, 1, 2], 0.0, sampled=False)
    assert [s.outcome for s in verdict.seeds] == [AGREES, CONTRADICTS, CONTRADICTS]


def test_a_failure_here_contradicts_and_a_harness_fault_proves_nothing(truth):
    crashed = {**subset(truth, [0]), "status": "crash", "per_seed": [], "outcomes": None}
    assert judge(truth, crashed, [0], 0.0, sampled=False).seeds[0].outcome == CONTRADICTS
    faulted = {**crashed, "status": "error"}
    assert judge(truth, faulted, [0], 0.0, sampled=False).seeds[0].outcome == PROVES_NOTHING


def test_a_sampled_rerun_draws_seeds_after_submission_at_its_stated_false_accept_rate(truth):
    """One fabricated seed of 3, 1 seed re-run: accepted with probability C(2,1)/C(3,1) = 2/3, measured
    over 3000 draws; re-running all seeds accepts it never."""
    forged = rewrite_seed(truth, 2, np.full(64, 0.99))
    assert false_accept_rate(3, 1) == pytest.approx(2 / 3) and false_accept_rate(3, 3) == 0.0
    assert false_accept_rate(10, 2, fabricated=2) == pytest.approx(28 / 45)  # C(8,2) / C(10,2)
    accepted = 0
    for i in range(3000):
        seeds = choose_seeds(forged["seeds"], 1, random.Random(i))
        verdict = judge(forged, subset(truth, seeds), seeds, 0.0, sampled=True)
        accepted += verdict.verified
        assert verdict.false_accept_rate == pytest.approx(2 / 3)
    assert abs(accepted / 3000 - 2 / 3) < 0.03
    assert not judge(forged, subset(truth, [0, 1, 2]), [0, 1, 2], 0.0, sampled=False).verified
    drawn = {tuple(choose_seeds([0, 1, 2, 3, 4], 2)) for _ in range(60)}  # the OS's random source by default
    assert len(drawn) > 3


def test_the_tolerance_is_a_parameter_whose_default_follows_the_records_cpu(monkeypatch, honest_rerun, truth):
    """Default: 0 (REPRODUCTION_TOLERANCE) when the record names this CPU, 0.001 (CROSS_CPU_TOLERANCE)
    when it names another or none; a given tolerance overrides both."""
    from harness.environment import cpu_isa, cpu_model

    nudged = copy.deepcopy(truth)
    row = np.array(nudged["outcomes"]["tables"]["verdict"][0])
    row[0] = 1.0 - row[0]  # one prompt of 64 flipped: 1/64 on average, and on the seed's win rate
    nudged = rewrite_seed(nudged, 0, row)
    here = copy.deepcopy(nudged)
    here["provenance"]["determinism"] = {"isa": cpu_isa(), "use_deterministic_algorithms": True}
    here["provenance"].setdefault("hardware", {})["cpu_model"] = cpu_model()
    verdict = verify_by_rerun(here)
    assert verdict.contradicted and verdict.tolerance == 0.0 and "is this one" in verdict.message
    elsewhere = copy.deepcopy(here)
    elsewhere["provenance"]["hardware"]["cpu_model"] = "GenuineIntel Other Xeon (family 6 model 143 stepping 8)"
    verdict = verify_by_rerun(elsewhere)  # 0.001 still refuses a flipped prompt (1/64 = 0.016)
    assert verdict.contradicted and verdict.tolerance == harness.reproduce.CROSS_CPU_TOLERANCE == 0.001
    assert "not known to be this one" in verdict.message and "Other Xeon" in verdict.message
    assert verify_by_rerun(nudged).tolerance == 0.001  # no CPU model recorded: another CPU
    assert verify_by_rerun(here, tolerance=0.02).verified
    monkeypatch.setattr(harness.reproduce, "REPRODUCTION_TOLERANCE", 0.02)
    assert verify_by_rerun(here).verified and verify_by_rerun(here).tolerance == 0.02


def test_a_last_bit_difference_on_another_cpu_is_accepted_and_on_the_same_cpu_refused(monkeypatch, truth):
    """What one CI machine showed: the same seed, a few prompts moved by the stored rounding (1e-4)."""
    from harness.environment import cpu_isa, cpu_model

    bits = copy.deepcopy(truth)
    row = np.array(bits["outcomes"]["tables"]["verdict"][1])
    row[:5] = np.clip(row[:5] + 1e-4, 0, 1)
    bits = rewrite_seed(bits, 1, row)
    monkeypatch.setattr(harness.reproduce, "reproduce",
                        lambda record, *, seeds=None, **kw: types.SimpleNamespace(rerun=subset(bits, seeds)))
    assert verify_by_rerun(truth).verified  # the record states no CPU: 0.001
    same = copy.deepcopy(truth)
    same["provenance"]["determinism"] = {"isa": cpu_isa(), "use_deterministic_algorithms": True}
    same["provenance"].setdefault("hardware", {})["cpu_model"] = cpu_model()
    assert verify_by_rerun(same).contradicted  # the same CPU: bit for bit or nothing
