"""The beta sweep: the DiscoPOP paper's IMDb protocol (Sec. 5) on top of ``harness bench``.

The paper trains each loss at several beta values and compares where the runs end in the (KL to the
reference, reward) plane: a loss whose points lie higher at the same KL has the better frontier.
``beta_sweep`` runs one bench per beta (the suite's ``beta`` set in its config, so each run is its own
record with its own config hash) and reads each record as a point through the suite's own
``frontier_point`` (suites with ``beta_frontier``; the others are refused). ``harness bench --beta-sweep``
is its command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.bench import BenchUsageError, bench_and_store
from harness.suites import SUITES, FrontierPoint


@dataclass(frozen=True)
class SweepResult:
    """The frontier points of the betas whose run was ok, the runs that failed as (beta, record), and the
    suite's KL budget (None for a suite without one)."""

    points: tuple[FrontierPoint, ...]
    failed: tuple[tuple[float, dict], ...]
    kl_budget: float | None

    def as_dict(self) -> dict:
        return {"frontier": [p.as_dict() for p in self.points],
                "failed": [{"beta": b, "status": r["status"], "error": r["error"]} for b, r in self.failed]}


def parse_betas(text: str) -> list[float]:
    """``"0.01,0.05,0.1"`` as a list; ValueError unless two or more distinct positive numbers."""
    try:
        betas = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        betas = []
    if len(betas) < 2 or min(betas) <= 0 or len(set(betas)) != len(betas):
        raise ValueError(f"{text!r} is not a comma-separated list of two or more distinct positive betas "
                         "(e.g. 0.01,0.05,0.1,0.5)")
    return betas


def beta_sweep(loss_path, betas: list[float], *, suite: str = "tiny", overrides: dict | None = None,
               run: Callable = bench_and_store, **options) -> SweepResult:
    """One bench of ``loss_path`` per beta, each stored (``run``: ``bench_and_store`` or an executor's
    runner with the same arguments); ``options`` are ``run_bench``'s (seeds, backend, out_dir, ...).

    Raises BenchUsageError for an unknown suite or one whose records are not reward-KL points."""
    if suite not in SUITES:
        raise BenchUsageError(f"unknown suite {suite!r}; choices: {', '.join(SUITES.names())}")
    suite_obj = SUITES.get(suite)
    if not suite_obj.beta_frontier:
        raise BenchUsageError(f"--beta-sweep reads the tiny suites' reward-KL trajectory; suite {suite!r} has its "
                              "own protocol (the paper's imdb suite sweeps beta with one GPU job per beta)")
    points, failed, budget = [], [], None
    for beta in betas:
        stored = run(loss_path, suite=suite, beta=None, overrides={**(overrides or {}), "beta": beta}, **options)
        if stored.record["status"] != "ok":
            failed.append((beta, stored.record))
            continue
        budget = stored.record["metrics"].get("kl_budget")
        points.append(suite_obj.frontier_point(stored.record, str(stored.path)))
    return SweepResult(tuple(points), tuple(failed), budget)


def render_frontier(points, budget: float | None) -> str:
    """The points as a table, one row per beta (win rates in %, with their 95% CIs)."""
    from tabulate import tabulate

    def ci(lo_hi):
        return "" if lo_hi is None else f"[{100 * lo_hi[0]:.1f}, {100 * lo_hi[1]:.1f}]"

    rows = [(f"{p.beta:g}", f"{p.kl_end:.2f} ({p.kl_end_range[0]:.2f}-{p.kl_end_range[1]:.2f})",
             f"{p.reward_end:+.3f} ({p.reward_end_range[0]:+.3f}-{p.reward_end_range[1]:+.3f})",
             f"{100 * p.win_rate_end:.1f} {ci(p.win_rate_end_ci)}",
             "not measured" if p.win_rate is None else f"{100 * p.win_rate:.1f} {ci(p.win_rate_ci)}",
             f"{p.measured_seeds}/{p.seeds}") for p in sorted(points, key=lambda p: p.beta)]
    verdict = "win % (verdict) [95% CI]" if budget is None else f"win % @ KL {budget:g} [95% CI]"
    return tabulate(rows, headers=["beta", "KL end (seed range)", "reward end (seed range)", "win % end [95% CI]",
                                   verdict, "measured"])
