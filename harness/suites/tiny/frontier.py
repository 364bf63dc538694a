"""The DiscoPOP paper's IMDb protocol on the tiny suite: one run per beta, read as a reward-vs-KL frontier.

The paper (Sec. 5, IMDb positive-review generation) trains each loss at several beta values and
compares where the runs end in the (KL to the reference, reward) plane: a loss whose points lie higher
at the same KL has the better frontier. `harness bench --beta-sweep 0.01,0.05,0.1,0.5` runs the suite
once per beta (each run its own record, the suite's ``beta`` set in its config, so its own config hash)
and turns the records into these points.

Per point: the end-of-training KL(policy || reference) and gold reward, as the mean over seeds with the
range over seeds (min, max; three seeds give no honest interval for a seed-level mean, so none is
claimed), and the end-of-training win rate against the reference answers with its crossed seeds x
prompts CI (harness.stats.win_rate_ci, coverage-tested), beside the matched-KL verdict at the budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FrontierPoint:
    beta: float
    seeds: int
    kl_end: float  # nats, mean over seeds
    kl_end_range: tuple[float, float]  # min, max over seeds
    reward_end: float  # gold reward, mean over seeds
    reward_end_range: tuple[float, float]
    win_rate_end: float
    win_rate_end_ci: tuple[float, float]
    win_rate: float | None  # at the KL budget (None: no seed measured there)
    win_rate_ci: tuple[float, float] | None
    measured_seeds: int
    record: str  # the record's path

    def as_dict(self) -> dict:
        return asdict(self)


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


def render(points: list[FrontierPoint], budget: float) -> str:
    from tabulate import tabulate

    def ci(lo_hi):
        return "" if lo_hi is None else f"[{100 * lo_hi[0]:.1f}, {100 * lo_hi[1]:.1f}]"

    rows = [(f"{p.beta:g}", f"{p.kl_end:.2f} ({p.kl_end_range[0]:.2f}-{p.kl_end_range[1]:.2f})",
             f"{p.reward_end:+.3f} ({p.reward_end_range[0]:+.3f}-{p.reward_end_range[1]:+.3f})",
             f"{100 * p.win_rate_end:.1f} {ci(p.win_rate_end_ci)}",
             "not measured" if p.win_rate is None else f"{100 * p.win_rate:.1f} {ci(p.win_rate_ci)}",
             f"{p.measured_seeds}/{p.seeds}") for p in sorted(points, key=lambda p: p.beta)]
    return tabulate(rows, headers=["beta", "KL end (seed range)", "reward end (seed range)", "win % end [95% CI]",
                                   f"win % @ KL {budget:g} [95% CI]", "measured"])
