"""Inline SVG for the board page: CI bars, and the helpers of the reward-vs-KL plot
(harness.leaderboard.render_frontier).

Pure string building, no plotting library, so the page needs nothing but a browser.
"""

from __future__ import annotations

import math
from collections import defaultdict

from harness.leaderboard.board import Entry

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 400, 64, 16, 16, 48


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def padded_span(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    if hi - lo < 1e-12:  # one value: give the axis some width instead of dividing by zero
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    d = (hi - lo) * pad
    return lo - d, hi + d


def ci_bar(lo: float, mean: float, hi: float, domain: tuple[float, float], width: int = 140) -> str:
    """A CI as a bar on a scale shared by all rows, so that bars can be compared down the table."""
    a, b = domain

    def x(v: float) -> float:
        return 4 + (width - 8) * (v - a) / (b - a)

    tip = f"95% CI {100 * lo:.1f} – {100 * hi:.1f}, mean {100 * mean:.1f}"
    return (f'<svg class="ci" width="{width}" height="14" role="img" aria-label="{tip}"><title>{tip}</title>'
            f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="7" y2="7" />'
            f'<circle cx="{x(mean):.1f}" cy="7" r="3.5" /></svg>')


def ci_domain(entries: tuple[Entry, ...]) -> tuple[float, float]:
    cis = [e.win_rate_ci for e in entries if e.win_rate_ci is not None]
    if not cis:
        return 0.0, 1.0
    return padded_span(min(lo for lo, _ in cis), max(hi for _, hi in cis), 0.03)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step) + 1)]


def mean_trajectory(entry: Entry) -> list[tuple[float, float]]:
    """(KL, reward) averaged over seeds at each step that the seeds report."""
    by_step: dict[float, list[tuple[float, float]]] = defaultdict(list)
    for seed in entry.trajectories:
        for step, kl, reward in seed:
            by_step[step].append((kl, reward))
    return [(sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
            for _, pts in sorted(by_step.items())]


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points that no other point beats on both axes (lower KL and higher reward)."""
    front, best = [], -math.inf
    for kl, reward in sorted(points, key=lambda p: (p[0], -p[1])):
        if reward > best:
            front.append((kl, reward))
            best = reward
    return front
