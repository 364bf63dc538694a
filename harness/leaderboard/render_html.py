"""index.html: one self-contained page (inline CSS, JS and SVG; no network) generated from a board.

Every field of a record that reaches the page is escaped where it is written: ``html.escape`` in
element text and attributes, ``_script_json`` for the data block, ``textContent`` in the script.
Numbers are formatted from floats that ``harness.leaderboard.fields`` checked to be finite.

The template (page.html) holds the style and the script (sorting, source dialog); this module fills
in the tables, the CI bars and the reward-vs-KL frontier plot.
"""

from __future__ import annotations

import json
import re
from html import escape
from importlib.resources import files

from harness.leaderboard.board import Board, Entry, FailedRun
from harness.leaderboard.render_frontier import ZOOM, frontier_svg, full_range_svg, outliers, window
from harness.leaderboard.render_md import REJECTED_TITLE, UNVERIFIED_NOTE, UNVERIFIED_TITLE
from harness.leaderboard.render_svg import ci_bar, ci_domain, color
from harness.leaderboard.rows import (
    CENSORED_MARK,
    ci_text,
    count,
    day,
    failed_row,
    header,
    metric_text,
    metric_value,
    pct,
    protocol_note,
    rank_note,
    rank_text,
    win_text,
)
from harness.suites.base import Column
from harness.text import clean_line

# (data key, header, type, first sort direction, numeric column); the suite's metric columns go after "lo"
HEAD = (
    ("rank", "Rank", "num", "ascending", True),
    ("name", "Loss", "text", "ascending", False),
    ("winrate", "Win rate %", "num", "descending", True),
    ("lo", "95% CI", "num", "descending", False),
)
TAIL = (
    ("seeds", "Seeds", "num", "descending", True),
    ("date", "Date", "text", "descending", False),
    ("sha", "sha256", "text", "ascending", False),
)


def _key(c: Column) -> str:
    """A metric column's sort key on the page (its data- attribute): the metric, dashes for underscores."""
    return c.key.replace("_", "-")


def columns(board: Board) -> tuple[tuple, ...]:
    """The page's columns: the fixed ones and one per metric column of the suite (``Board.metric_columns``)."""
    metric = tuple((_key(c), header(c)[:1].upper() + header(c)[1:], "num",
                    "ascending" if c.lower_is_better else "descending", True) for c in board.metric_columns)
    return (*HEAD, *metric, *TAIL)


def _script_json(obj) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _attr(x) -> str:
    return "" if x is None else escape(str(x))


def _meta(board: Board, name: str, sha: str, record_file: str, extra: list[tuple[str, str]]) -> dict:
    return {"name": name, "meta": [("sha256", sha), ("record", record_file), ("suite", board.suite), *extra]}


def _entry_row(e: Entry, i: int, order: int, domain, swatch: str, cols: tuple[Column, ...] = ()) -> str:
    lo, hi = e.win_rate_ci or (None, None)
    attrs = {"rank": e.rank, "name": e.name.lower(), "winrate": e.win_rate, "lo": lo,
             **{_key(c): metric_value(e, c) for c in cols}, "seeds": e.seeds,
             "date": e.created_at, "sha": e.sha256, "order": order}
    data = " ".join(f'data-{k}="{_attr(v)}"' for k, v in attrs.items())
    cells = [
        f'<td class="num rank">{escape(rank_text(e))}</td>',
        f'<td><span class="swatch" style="background:{swatch}"></span>'
        f'<button class="loss" data-index="{i}" title="show the loss source">{escape(e.name)}</button>'
        f"{_answers_link(e)}</td>",
        f'<td class="num"{_censored_title(e)}>{escape(win_text(e))}</td>',
        f'<td>{"" if lo is None else ci_bar(lo, e.win_rate, hi, domain)} <span class="note">{ci_text(e)}</span></td>',
        *(f'<td class="num"{_title(c)}>{escape(metric_text(e, c))}</td>' for c in cols),
        f'<td class="num">{e.seeds}</td>', f"<td>{escape(day(e.created_at))}</td>",
        f'<td><a href="{escape(e.record_file)}"><code>{escape(e.sha256[:12])}</code></a></td>',
    ]
    return f"<tr {data}>{''.join(cells)}</tr>"


def _title(c: Column) -> str:
    return f' title="{escape(c.note)}"' if c.note else ""


def _answers_link(e: Entry) -> str:
    """A link to the entry's answers page (harness.leaderboard.render_answers), when its record keeps answers."""
    if not e.answers_page:
        return ""
    return f' <a class="answers" href="{escape(e.answers_page)}" title="answers per prompt, with the judge\'s verdicts">answers</a>'


def _censored_title(e: Entry) -> str:
    if not e.censored_seeds:
        return ""
    return (f' title="{CENSORED_MARK} {e.censored_seeds} of {e.seeds} seeds never reached the KL budget; the '
            'figure averages the measured seeds only"')


def _board_table(board: Board, data: list, colors: dict) -> str:
    if not board.entries:
        return f"<p>No entries yet: <code>harness submit --loss FILE --suite {escape(board.suite)}</code>.</p>"
    head = "".join(
        f'<th scope="col" data-key="{k}" data-type="{t}" data-first="{first}"{" class=num" if n else ""}>'
        f"<button>{escape(label)}</button></th>" for k, label, t, first, n in columns(board))
    domain = ci_domain(board.entries)
    rows = []
    for order, e in enumerate(board.entries):
        rows.append(_entry_row(e, len(data), order, domain, colors[e.key], board.metric_columns))
        data.append({**_meta(board, e.name, e.sha256, e.record_file, _provenance(e, board.metric_columns)),
                     "source": e.source})
    return (f'<table id="board"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _provenance(e: Entry, cols: tuple[Column, ...] = ()) -> list[tuple[str, str]]:
    per_seed = ", ".join(f"seed {s}: {pct(w)}" for s, w in e.seed_win_rates)
    return [("win rate", f"{win_text(e)}% (95% CI {ci_text(e)}), {e.seeds} seeds" if e.win_rate_ci
                         else f"{win_text(e)}, {e.seeds} seeds"),
            ("per seed", per_seed or "not recorded"), *((header(c), metric_text(e, c) or "n/a") for c in cols),
            ("verified", e.proof),
            ("harness", f"{e.harness_version} @ {e.git_revision or 'unknown revision'}"),
            ("judge", e.judge_id or "unknown"), ("date", e.created_at)]


def _failed_table(board: Board, data: list, failed: tuple[FailedRun, ...]) -> str:
    if not failed:
        return ""
    rows = []
    for f in failed:
        r = failed_row(f)
        rows.append(f'<tr><td><button class="loss" data-index="{len(data)}">{escape(f.name)}</button></td>'
                    f"<td>{escape(f.status)}</td><td><code>{escape(clean_line(r['error']))}</code></td>"
                    f"<td>{escape(r['date'])}</td>"
                    f'<td><a href="{escape(f.record_file)}"><code>{escape(r["sha256"])}</code></a></td></tr>')
        data.append({**_meta(board, f.name, f.sha256, f.record_file,
                             [("status", f.status), ("error", f.error)]), "source": f.source})
    return ('<h2>Failed runs (not ranked)</h2><table id="failed"><thead><tr><th>Loss</th><th>Status</th>'
            f'<th>Error</th><th>Date</th><th>sha256</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _rejected_table(board: Board) -> str:
    """Files that failed the checks on load, with the reason (text only: nothing of them is shown)."""
    if not board.rejected:
        return ""
    rows = "".join(f"<tr><td><code>{escape(r.record_file)}</code></td><td>{escape(clean_line(r.reason)[:300])}</td></tr>"
                   for r in board.rejected)
    return (f"<h2>{escape(REJECTED_TITLE)}</h2><table id=\"rejected\"><thead><tr><th>File</th><th>Why rejected</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _listed_table(board: Board, data: list, entries: tuple[Entry, ...], table_id: str, title: str,
                  note: str = "") -> str:
    """Entries listed without a rank (unverified, or run on an older suite config)."""
    if not entries:
        return ""
    rows = []
    for e in entries:
        rows.append(f'<tr><td><button class="loss" data-index="{len(data)}">{escape(e.name)}</button>'
                    f'{_answers_link(e)}</td><td class="num">{escape(pct(e.win_rate))}</td><td>{escape(day(e.created_at))}</td>'
                    f'<td><a href="{escape(e.record_file)}"><code>{escape(e.sha256[:12])}</code></a></td></tr>')
        data.append({**_meta(board, e.name, e.sha256, e.record_file, _provenance(e, board.metric_columns)), "source": e.source})
    note = f'<p class="note">{escape(note)}</p>' if note else ""
    return (f'<h2>{escape(title)}</h2>{note}<table id="{table_id}"><thead><tr><th>Loss</th>'
            f'<th class="num">Win rate %</th><th>Date</th><th>sha256</th></tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


HEAD_TO_HEAD_MAX = 30  # entries in the page's matrix (900 cells); every pair is in `--format json`


def _head_to_head(board: Board) -> str:
    """Matrix of paired differences (row - column, win-rate points); bold: separated after Holm.
    The best ``HEAD_TO_HEAD_MAX`` entries by estimate only: a matrix of every entry grows with the
    square of the board (250,000 cells for 500 entries) and stops being readable long before."""
    if board.ranking is None:
        return ""
    ranked = [e for e in board.entries if e.ranked_on]
    entries = ranked[:HEAD_TO_HEAD_MAX]
    head = "".join(f'<th scope="col">{escape(e.name)}</th>' for e in entries)
    rows = []
    for a in entries:
        cells = []
        for b in entries:
            if a.key == b.key:
                cells.append("<td></td>")
                continue
            p = board.ranking.pair(a.key, b.key)
            title = (f"{a.name} - {b.name}: {100 * p.difference:+.1f} points, 95% CI {100 * p.ci[0]:+.1f} to "
                     f"{100 * p.ci[1]:+.1f}, {p.seeds} seeds" + ("; separated" if p.separated else ""))
            text = f"{100 * p.difference:+.1f}"
            cells.append(f'<td class="num" title="{escape(title)}">{f"<strong>{text}</strong>" if p.separated else text}</td>')
        rows.append(f'<tr><th scope="row">{escape(a.name)}</th>{"".join(cells)}</tr>')
    note = (f'<p class="note">The {len(entries)} best of {len(ranked)} ranked entries by estimate; every pair is '
            "in <code>harness leaderboard --format json</code>.</p>" if len(entries) < len(ranked) else "")
    return ('<details id="head-to-head"><summary>Head to head: paired differences of win rate (row minus column, '
            'points; bold = separated after Holm\'s family-wise adjustment; hover for the 95% CI)</summary>'
            f'{note}<table><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')


def _apart_table(board: Board, data: list) -> str:
    if not board.apart:
        return ""
    rows = []
    for e in board.apart:
        rank = f"{rank_text(e)} ({e.ranked_on})" if e.ranked_on else ""
        rows.append(f'<tr><td><button class="loss" data-index="{len(data)}">{escape(e.name)}</button>'
                    f'{_answers_link(e)}</td><td class="num"{_censored_title(e)}>{escape(win_text(e))}</td><td class="num">{escape(rank)}</td>'
                    f"<td>{escape(e.apart_reason)}</td>"
                    f'<td><a href="{escape(e.record_file)}"><code>{escape(e.sha256[:12])}</code></a></td></tr>')
        data.append({**_meta(board, e.name, e.sha256, e.record_file, _provenance(e, board.metric_columns)), "source": e.source})
    return ("<h2>Shown apart (not on the main scale)</h2><table id=\"apart\"><thead><tr><th>Loss</th>"
            '<th class="num">Win rate %</th><th class="num">Rank</th><th>Why apart</th><th>sha256</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _frontier(board: Board, colors: dict) -> str:
    if not board.measures_kl:
        return ""
    budget = "" if board.kl_budget is None else \
        f" The red dotted line is the KL budget ({board.kl_budget:g} nats) at which win rates are measured."
    legend = "".join(f'<li><span class="swatch" style="background:{colors[e.key]}"></span>{escape(e.name)}</li>'
                     for e in board.entries if e.trajectories)
    span = window(board.entries, board.kl_budget)
    far = outliers(board.entries, span[1]) if span else []
    zoom = "" if not far else (
        f" The plot shows KL up to {span[1]:g} nats ({ZOOM:g} x the budget); lines that go further are cut at its "
        "edge, and a loss whose last step lies beyond it is marked on the right edge with its name.")
    beyond = "" if not far else '<p class="note" id="frontier-outliers">Beyond this window: ' + "; ".join(
        f"{escape(e.name)} (last step at KL {kl:.3g}, reward {r:.3g})" for e, kl, r in far) + ".</p>"
    full = "" if not far else ('<details id="frontier-full-range"><summary>Every point, on a log KL axis</summary>'
                               f"{full_range_svg(board.entries, colors, board.kl_budget)}</details>")
    return ("<h2>Reward vs KL</h2><p class=\"note\">Each line is a loss's training trajectory (mean over seeds at "
            "each evaluation step; dots are single seeds; the large dot is the last step). The dashed line is "
            "the Pareto frontier: more reward for less divergence from the reference model is better (up and "
            f"to the left).{budget}{zoom}</p>{frontier_svg(board.entries, colors, board.kl_budget)}{beyond}{full}"
            f"<ul class=\"legend\">{legend}</ul>")


def render_html(board: Board) -> str:
    colors = {e.key: color(i) for i, e in enumerate(board.entries)}
    data: list = []
    parts = {
        "title": escape(f"{board.suite} leaderboard"),
        "heading": escape(f"Leaderboard: {board.suite} suite"),
        "meta": f"suite config <code>{escape(board.config_hash)}</code> · {count(board.entries, 'ranked entry')} · "
                f"{count(board.failed, 'failed run')} · generated from the records in this folder by "
                "<code>harness leaderboard</code>",
        "note": escape("Win rate against the suite's reference answers, mean over seeds and prompts, with a 95% "
                       "CI. " + rank_note(board) + " " + protocol_note(board)
                       + " Click a column to sort, a loss to see its source"
                       + (", \"answers\" for its answers per prompt." if any(
                           e.answers_page for e in (*board.entries, *board.apart, *board.unverified)) else ".")),
        "board": _board_table(board, data, colors),
        "frontier": _frontier(board, colors),
        "failed": _failed_table(board, data, board.failed) + _rejected_table(board),
        "stale": _listed_table(board, data, board.unverified, "unverified", UNVERIFIED_TITLE, UNVERIFIED_NOTE)
        + _listed_table(board, data, board.stale, "stale", "Run on an older suite config (not ranked)"),
        "head_to_head": _head_to_head(board),
        "apart": _apart_table(board, data),
    }
    parts["data"] = _script_json(data)
    page = files("harness.leaderboard").joinpath("page.html").read_text(encoding="utf-8")
    # one pass, so that text inside a filled-in part is never taken for a placeholder
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], page)
