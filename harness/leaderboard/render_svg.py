"""Inline SVG for the board page: CI bars and the reward-vs-KL frontier (the paper's IMDb figure).

Pure string building, no plotting library, so the page needs nothing but a browser.
"""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape

from harness.leaderboard.board import Entry

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 400, 64, 16, 16, 48


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _span(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
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
    return _span(min(lo for lo, _ in cis), max(hi for _, hi in cis), 0.03)


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


def frontier_svg(entries: tuple[Entry, ...], colors: dict[str, str], kl_budget: float | None = None) -> str:
    """Each entry's seed-mean trajectory (line), its seeds' points (dots), the Pareto frontier, and the
    KL budget at which win rates are measured (a vertical line, when it lies inside the plot)."""
    pts = [(kl, r) for e in entries for seed in e.trajectories for _, kl, r in seed]
    if not pts:
        return ""
    (x0, x1), (y0, y1) = _span(min(p[0] for p in pts), max(p[0] for p in pts)), \
        _span(min(p[1] for p in pts), max(p[1] for p in pts))

    def sx(v: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * (v - x0) / (x1 - x0)

    def sy(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * (v - y0) / (y1 - y0)

    out = [f'<svg id="frontier" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           'aria-label="reward versus KL divergence per loss">']
    out += _axes(x0, x1, y0, y1, sx, sy)
    if kl_budget is not None and x0 <= kl_budget <= x1:
        out.append(f'<line class="budget" x1="{sx(kl_budget):.1f}" x2="{sx(kl_budget):.1f}" y1="{TOP}" '
                   f'y2="{H - BOTTOM}"><title>KL budget {kl_budget:g} nats: win rates are measured here'
                   '</title></line>')
    means = {}
    for e in entries:
        c = colors[e.key]
        for seed in e.trajectories:
            out += [f'<circle class="seedpt" cx="{sx(kl):.1f}" cy="{sy(r):.1f}" r="2.2" fill="{c}" />'
                    for _, kl, r in seed]
        means[e.key] = line = mean_trajectory(e)
        coords = " ".join(f"{sx(kl):.1f},{sy(r):.1f}" for kl, r in line)
        kl, r = line[-1]
        out.append(f'<polyline class="traj" points="{coords}" stroke="{c}" />'
                   f'<circle class="final" cx="{sx(kl):.1f}" cy="{sy(r):.1f}" r="5" fill="{c}">'
                   f'<title>{escape(e.name)}: KL {kl:.3g}, reward {r:.3g} (mean of {len(e.trajectories)} seeds, '
                   'last step)</title></circle>')
    front = pareto_front([p for line in means.values() for p in line])
    if len(front) > 1:
        coords = " ".join(f"{sx(kl):.1f},{sy(r):.1f}" for kl, r in front)
        out.append(f'<polyline class="front" points="{coords}"><title>Pareto frontier</title></polyline>')
    out.append("</svg>")
    return "".join(out)


def _axes(x0, x1, y0, y1, sx, sy) -> list[str]:
    out = [f'<rect class="plotbg" x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" />']
    for t in nice_ticks(x0, x1):
        out.append(f'<line class="grid" x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{TOP}" y2="{H - BOTTOM}" />'
                   f'<text class="tick" x="{sx(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{t:g}</text>')
    for t in nice_ticks(y0, y1):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" />'
                   f'<text class="tick" x="{LEFT - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text class="label" x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">'
               'KL(policy ‖ reference)</text>'
               f'<text class="label" transform="translate(16 {(TOP + H - BOTTOM) / 2}) rotate(-90)" '
               'text-anchor="middle">reward</text>')
    return out
