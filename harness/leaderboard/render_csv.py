"""leaderboard.csv: one row per current entry, full-precision numbers (AlpacaEval-like).

Rows: the ranked entries (``section`` "ranked", best estimate first), then those shown apart from the
main scale (``section`` "apart", with ``apart_reason``; ranked only on the table named in
``ranked_on``, if any), then the unverified ones (``section`` "unverified", never ranked). ``rank``
and ``rank_worst`` are the two ends of the entry's rank interval (jointly 95%; equal when the entry
is told apart from every other): rank 1 for many rows means they are not told apart, and
``rank_worst`` says how far down each could be. ``verified`` is the board's own note on the record's
provenance (harness.leaderboard.board.is_verified). Failed runs and older suite configs are listed in
README.md and index.html only.

AlpacaEval's leaderboard columns ride along under its names where they mean the same thing:
``standard_error`` (of the win rate: the SEM its CI is built from), ``n_total`` (the scores behind it:
measured seeds x prompts), ``avg_length`` (mean characters of the policy's kept answers),
``length_controlled_winrate`` and ``lc_standard_error`` (suites judged by an LLM). Like every rate in this
file they are shares in [0, 1] (AlpacaEval writes percent; multiply by 100 to compare).

Every text cell goes through ``harness.text.csv_cell``: a loss name such as ``=HYPERLINK(...)`` is
written as text a spreadsheet will not evaluate (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

from harness.leaderboard.board import Board, Entry
from harness.leaderboard.rows import entry_json, metric_json
from harness.text import csv_cell

HEAD = ("rank", "rank_worst", "section", "name", "sha256", "win_rate", "win_rate_ci_low", "win_rate_ci_high",
        "seeds")
ALPACA = ("standard_error", "n_total", "avg_length", "length_controlled_winrate", "lc_standard_error")
TAIL = ("ranked_on", "apart_reason", "kl_budget", "censored_seeds", "created_at", "suite", "suite_config_hash",
        "harness_version", "git_revision", "judge", "record", "verified")


def columns(board: Board) -> tuple[str, ...]:
    """The CSV header: the entry's rank interval, section and primary win rate, then each of the suite's
    metric columns (``key``, with ``key_ci_low`` / ``key_ci_high`` when it has a CI and its count when it
    has one), then the protocol and provenance fields."""
    metric = []
    for c in board.metric_columns:
        for key in metric_json_keys(c):
            metric += [f"{key[:-3]}_ci_low", f"{key[:-3]}_ci_high"] if key.endswith("_ci") else [key]
    return (*HEAD, *ALPACA, *metric, *TAIL)


def metric_json_keys(c) -> list[str]:
    return [c.key] + ([c.key + "_ci"] if c.ci else []) + ([c.count] if c.count else [])


def _row(board: Board, e: Entry, section: str) -> dict:
    row = entry_json(board, e)
    for key in ["win_rate_ci", *(k for c in board.metric_columns for k in metric_json(e, c) if k.endswith("_ci"))]:
        row[f"{key[:-3]}_ci_low"], row[f"{key[:-3]}_ci_high"] = row.pop(key, None) or (None, None)
    ranked = section != "unverified" and e.rank_interval is not None
    row["rank"], row["rank_worst"] = e.rank_interval if ranked else (None, None)
    row["ranked_on"] = e.ranked_on if ranked else None
    row["section"] = section
    row.update(standard_error=e.standard_error, n_total=e.n_total, avg_length=e.avg_length,
               length_controlled_winrate=e.lc_win_rate, lc_standard_error=e.lc_standard_error)
    return row


def render_csv(board: Board) -> str:
    names = columns(board)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for section, entries in (("ranked", board.entries), ("apart", board.apart), ("unverified", board.unverified)):
        for e in entries:
            row = _row(board, e, section)
            writer.writerow({k: "" if row.get(k) is None else csv_cell(row[k]) for k in names})
    return out.getvalue()
