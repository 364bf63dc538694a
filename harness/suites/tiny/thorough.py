"""Thorough mode: the matched-KL verdict pooled over a small learning-rate grid.

Users ask "is this loss bad, or just mistuned?". The default protocol trains every loss at the suite's
one learning rate, which is fair but can under-rate a loss whose gradient scale differs from DPO's.
The issue's protocol study found that picking the best learning rate by END-of-training win rate is
biased (up to +0.24 for unstable losses: a lucky collapse-free run wins). Pooling at a MATCHED KL
keeps the comparison at equal divergence from the reference instead: per seed, every learning
rate's trajectory is read where KL(policy || ref) reaches the budget (harness.suites.tiny.budget), and the
pooled frontier is their upper envelope at that point, i.e. the best learning rate at that budget
(the toy analogue of the paper's reward-KL frontier over several settings, IMDb experiment).
A trajectory with no measured value at the budget (censored or unresolved) competes only when none has
one (the seed then keeps the first learning rate's status and no measured value).

Selecting the best of a few noisy estimates is optimistic by roughly the per-seed noise, so the
result of every learning rate is reported beside the pooled one, and boards refuse thorough records
(they rank the default protocol only).
"""

from __future__ import annotations

import time

from harness.suites.base import SuiteResult
from harness.suites.tiny.answers import answers_block
from harness.suites.tiny.metrics import aggregate

DEFAULT_FACTORS = (0.5, 1.0, 2.0)  # x the suite's learning rate: one halving and one doubling


def default_grid(base_lr: float, factors: tuple[float, ...] = DEFAULT_FACTORS) -> tuple[float, ...]:
    return tuple(sorted({round(base_lr * f, 12) for f in factors}))


def pool(runs: list[tuple[float, list[dict], list[dict]]]) -> tuple[list[dict], list[dict]]:
    """Per seed, the learning rate whose trajectory is best at the primary KL budget.

    ``runs`` holds (learning_rate, per_seed, arrays) with the same seeds in the same order."""
    pooled_seeds, pooled_arrays = [], []
    for i in range(len(runs[0][1])):
        options = [(lr, per_seed[i], arrays[i]) for lr, per_seed, arrays in runs]
        reached = [o for o in options if o[1]["status"] == "measured"]
        lr, metrics, arrays = max(reached, key=lambda o: o[1]["win_rate"]) if reached else options[0]
        pooled_seeds.append({**metrics, "learning_rate": lr,
                             "reached_budget_at": [o[0] for o in reached]})
        pooled_arrays.append(arrays)
    return pooled_seeds, pooled_arrays


def run_grid(suite_obj, artifacts, session, seeds: list[int], beta: float, lrs: tuple[float, ...], *,
             progress: bool = True):
    """Train every seed at every learning rate; return run_seeds' contract plus a per-lr summary
    (``metrics`` holds ``outcomes`` and ``answers``, which the caller moves into its SuiteResult).

    For suites on the matched-KL protocol (harness.suites.tiny.evaluate.train_seeds); ``run_bench`` refuses the others."""
    from harness.suites.tiny.evaluate import train_seeds

    cfg = suite_obj.config.eval
    runs, per_lr, judge_info = [], [], None
    timings = {"train": 0.0, "evaluate": 0.0, "dense": 0.0, "loss_calls": 0.0}
    for lr in lrs:
        suite_lr = suite_obj.with_overrides({"train.learning_rate": lr})
        per_seed, arrays, judge_info, stage = train_seeds(suite_lr, artifacts, session, seeds, beta,
                                                          progress=progress)
        for key in timings:
            timings[key] += stage[key]
        runs.append((lr, per_seed, arrays))
        m = aggregate(per_seed, arrays, cfg, artifacts.eval_prompts)
        per_lr.append({"learning_rate": lr, "win_rate": m["win_rate"], "win_rate_ci": m["win_rate_ci"],
                       "censored_seeds": m["censored_seeds"], "unresolved_seeds": m["unresolved_seeds"],
                       "win_rate_end": m["win_rate_end"], "kl": m["kl"],
                       "per_seed_win_rate": [s["win_rate"] for s in per_seed]})
    t = time.perf_counter()
    pooled_seeds, pooled_arrays = pool(runs)
    metrics = aggregate(pooled_seeds, pooled_arrays, cfg, artifacts.eval_prompts)
    metrics["answers"] = answers_block(pooled_seeds, artifacts.eval_prompts, artifacts.reference_text, judge_info)
    timings["aggregate"] = time.perf_counter() - t
    return pooled_seeds, metrics, judge_info, timings, per_lr


def run_thorough(suite_obj, artifacts, session, seeds: list[int], beta: float, lrs: tuple[float, ...], *,
                 progress: bool = True) -> SuiteResult:
    """``TinySuite.run_seeds`` with ``RunPlan.thorough``: ``lrs`` (empty: the suite's learning rate x
    DEFAULT_FACTORS) pooled per seed; the record's ``thorough`` block lists every learning rate's own result."""
    lrs = lrs or default_grid(suite_obj.config.train.learning_rate)
    per_seed, metrics, judge_info, stage, per_lr = run_grid(suite_obj, artifacts, session, seeds, beta, lrs,
                                                            progress=progress)
    thorough = {"learning_rates": list(lrs), "per_learning_rate": per_lr,
                "selection": "per seed, the learning rate with the best win rate at the KL budget"}
    outcomes, answers = metrics.pop("outcomes", None), metrics.pop("answers", None)
    return SuiteResult(per_seed, metrics, judge_info, stage, outcomes, thorough, answers=answers)
