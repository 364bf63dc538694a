"""The DiscoPOP paper's IMDb protocol on the tiny suite: one run per beta, read as a reward-vs-KL frontier.

The paper (Sec. 5, IMDb positive-review generation) trains each loss at several beta values and
compares where the runs end in the (KL to the reference, reward) plane: a loss whose points lie higher
at the same KL has the better frontier. `harness bench --beta-sweep 0.01,0.05,0.1,0.5` (harness.sweep) runs the suite
once per beta (each run its own record, the suite's ``beta`` set in its config, so its own config hash)
and turns the records into these points.

Per point: the end-of-training KL(policy || reference) and gold reward, as the mean over seeds with the
range over seeds (min, max; three seeds give no honest interval for a seed-level mean, so none is
claimed), and the end-of-training win rate against the reference answers with its crossed seeds x
prompts CI (harness.stats.crossed.win_rate_ci, coverage-tested), beside the matched-KL verdict at the budget.
"""

from __future__ import annotations

from harness.suites.base import FrontierPoint


def point(record: dict, path: str) -> FrontierPoint:
    """The frontier point of one ok tiny record."""
    seeds = record["per_seed"]
    kl = [s["kl"] for s in seeds]
    reward = [s["reward_end"] for s in seeds]
    m = record["metrics"]
    return FrontierPoint(
        beta=record["beta"], seeds=len(seeds), kl_end=sum(kl) / len(kl), kl_end_range=(min(kl), max(kl)),
        reward_end=sum(reward) / len(reward), reward_end_range=(min(reward), max(reward)),
        win_rate_end=m["win_rate_end"], win_rate_end_ci=tuple(m["win_rate_end_ci"]), win_rate=m["win_rate"],
        win_rate_ci=None if m["win_rate_ci"] is None else tuple(m["win_rate_ci"]),
        measured_seeds=m["measured_seeds"], record=str(path))
