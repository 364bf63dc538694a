"""The board's reward-vs-KL plot (the paper's IMDb figure) as inline SVG, readable with outliers.

One loss that runs far past the KL budget (the tiny board's apo_down ends near KL 190 nats, every other
loss below 50) used to set the axes and squash every other loss into one corner. The main plot now
shows the window around the budget: KL from 0 to ``ZOOM`` x the budget (or to the data's end, when that
is nearer), reward over the points inside that window. Lines leaving the window are clipped at its edge;
a loss whose last point lies outside is marked on the edge (a triangle with its name, and a title with
where it ended) and listed under the plot. A second plot, ``full_range_svg``, shows every point on a
log axis, log10(1 + KL), so nothing is hidden.
"""

from __future__ import annotations

import math
from html import escape

from harness.leaderboard.board import Entry
from harness.leaderboard.render_svg import (
    LEFT,
    RIGHT,
    TOP,
    H,
    W,
    mean_trajectory,
    nice_ticks,
    padded_span,
    pareto_front,
)

BOTTOM = 48
ZOOM = 5.0  # the window spans 0 .. ZOOM x the KL budget


def window(entries: tuple[Entry, ...], kl_budget: float | None) -> tuple[float, float] | None:
    """The main plot's KL range: (0, ZOOM x budget), or the data's own range when it ends sooner; None when
    there are no points."""
    kls = [kl for e in entries for seed in e.trajectories for _, kl, _ in seed]
    if not kls:
        return None
    hi = max(kls)
    if kl_budget is not None and hi > ZOOM * kl_budget:
        hi = ZOOM * kl_budget
    return min(0.0, min(kls)), hi


def outliers(entries: tuple[Entry, ...], x_hi: float) -> list[tuple[Entry, float, float]]:
    """(entry, KL, reward) of each entry whose seed-mean last point lies beyond the window's KL edge."""
    out = []
    for e in entries:
        line = mean_trajectory(e)
        if line and line[-1][0] > x_hi:
            out.append((e, *line[-1]))
    return out


class _Axes:
    """Scales from data to SVG coordinates; ``log`` maps KL through log10(1 + KL)."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float], log: bool = False):
        self.log = log
        self.x0, self.x1 = padded_span(self.fx(x[0]), self.fx(x[1]), pad=0.02)
        self.y0, self.y1 = padded_span(*y)

    def fx(self, v: float) -> float:
        return math.log10(1 + max(v, 0.0)) if self.log else v

    def sx(self, v: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * (self.fx(v) - self.x0) / (self.x1 - self.x0)

    def sy(self, v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * (v - self.y0) / (self.y1 - self.y0)

    def x_ticks(self) -> list[float]:
        if not self.log:
            return nice_ticks(self.x0, self.x1)
        top = 10 ** self.x1 - 1
        return [0.0] + [10.0 ** k for k in range(0, int(math.floor(math.log10(max(top, 1)))) + 1)]


def _frame(ax: _Axes, svg_id: str, label: str, x_label: str) -> list[str]:
    out = [f'<svg id="{svg_id}" class="frontier" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{escape(label)}">',
           f'<rect class="plotbg" x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" />']
    for t in ax.x_ticks():
        out.append(f'<line class="grid" x1="{ax.sx(t):.1f}" x2="{ax.sx(t):.1f}" y1="{TOP}" y2="{H - BOTTOM}" />'
                   f'<text class="tick" x="{ax.sx(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{t:g}</text>')
    for t in nice_ticks(ax.y0, ax.y1):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{ax.sy(t):.1f}" y2="{ax.sy(t):.1f}" />'
                   f'<text class="tick" x="{LEFT - 6}" y="{ax.sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text class="label" x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">{x_label}</text>'
               f'<text class="label" transform="translate(16 {(TOP + H - BOTTOM) / 2}) rotate(-90)" '
               'text-anchor="middle">reward</text>')
    return out


def _lines(entries: tuple[Entry, ...], colors: dict[str, str], ax: _Axes) -> list[str]:
    # a nested viewport with the outer coordinates clips what leaves the plot area (no url() reference:
    # the page holds none)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out, means = [f'<svg x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" viewBox="{LEFT} {TOP} {pw} {ph}" '
                  'overflow="hidden">'], []
    for e in entries:
        c = colors[e.key]
        for seed in e.trajectories:
            out += [f'<circle class="seedpt" cx="{ax.sx(kl):.1f}" cy="{ax.sy(r):.1f}" r="2.2" fill="{c}" />'
                    for _, kl, r in seed]
        line = mean_trajectory(e)
        means += line
        coords = " ".join(f"{ax.sx(kl):.1f},{ax.sy(r):.1f}" for kl, r in line)
        kl, r = line[-1]
        out.append(f'<polyline class="traj" points="{coords}" stroke="{c}" />'
                   f'<circle class="final" cx="{ax.sx(kl):.1f}" cy="{ax.sy(r):.1f}" r="5" fill="{c}">'
                   f'<title>{escape(e.name)}: KL {kl:.3g}, reward {r:.3g} (mean of {len(e.trajectories)} seeds, '
                   'last step)</title></circle>')
    front = pareto_front(means)
    if len(front) > 1:
        coords = " ".join(f"{ax.sx(kl):.1f},{ax.sy(r):.1f}" for kl, r in front)
        out.append(f'<polyline class="front" points="{coords}"><title>Pareto frontier</title></polyline>')
    return out + ["</svg>"]


def _budget(ax: _Axes, kl_budget: float | None) -> list[str]:
    if kl_budget is None or not ax.sx(0) <= ax.sx(kl_budget) <= W - RIGHT:
        return []
    x = ax.sx(kl_budget)
    return [f'<line class="budget" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}"><title>KL budget '
            f'{kl_budget:g} nats: win rates are measured here</title></line>']


def _marks(out_of_window, colors: dict[str, str], ax: _Axes) -> list[str]:
    """A triangle on the right edge per entry that ends beyond the window, at its reward (clamped), named."""
    out, edge, used = [], W - RIGHT, []
    for e, kl, r in out_of_window:
        y = min(max(ax.sy(r), TOP + 6), H - BOTTOM - 6)
        while any(abs(y - u) < 12 for u in used):  # names must not sit on each other
            y = y - 12 if y - 12 > TOP + 6 else y + 12
        used.append(y)
        out.append(f'<g class="outlier"><path d="M{edge - 9:.1f},{y - 6:.1f} L{edge:.1f},{y:.1f} L{edge - 9:.1f},'
                   f'{y + 6:.1f} Z" fill="{colors[e.key]}" /><text class="outlier-name" x="{edge - 12:.1f}" '
                   f'y="{y + 4:.1f}" text-anchor="end">{escape(e.name)} → KL {kl:.3g}</text>'
                   f'<title>{escape(e.name)} ends beyond this window: KL {kl:.3g}, reward {r:.3g} (mean of '
                   f'{len(e.trajectories)} seeds, last step); the full-range plot shows it</title></g>')
    return out


def frontier_svg(entries: tuple[Entry, ...], colors: dict[str, str], kl_budget: float | None = None) -> str:
    """The main plot: the window around the KL budget, with the entries that end beyond it marked."""
    span = window(entries, kl_budget)
    if span is None:
        return ""
    inside = [r for e in entries for seed in e.trajectories for _, kl, r in seed if kl <= span[1]]
    inside = inside or [r for e in entries for seed in e.trajectories for _, _, r in seed]
    ax = _Axes(span, (min(inside), max(inside)))
    out = _frame(ax, "frontier", "reward versus KL divergence per loss, around the KL budget",
                 "KL(policy ‖ reference)")
    out += _budget(ax, kl_budget) + _lines(entries, colors, ax)
    out += _marks(outliers(entries, span[1]), colors, ax)
    return "".join(out) + "</svg>"


def full_range_svg(entries: tuple[Entry, ...], colors: dict[str, str], kl_budget: float | None = None) -> str:
    """Every point, KL on a log axis (log10(1 + KL)): the outliers in place."""
    pts = [(kl, r) for e in entries for seed in e.trajectories for _, kl, r in seed]
    if not pts:
        return ""
    ax = _Axes((0.0, max(p[0] for p in pts)), (min(p[1] for p in pts), max(p[1] for p in pts)), log=True)
    out = _frame(ax, "frontier-full", "reward versus KL divergence per loss, every point, log KL axis",
                 "KL(policy ‖ reference), log scale (log10 of 1 + KL)")
    out += _budget(ax, kl_budget) + _lines(entries, colors, ax)
    return "".join(out) + "</svg>"
