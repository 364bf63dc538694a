"""leaderboard.csv: ranked entries only, full-precision numbers, one row per entry (AlpacaEval-like).

Every text cell goes through ``harness.text.csv_cell``: a loss name such as ``=HYPERLINK(...)`` is
written as text a spreadsheet will not evaluate (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json, metric_json
from harness.text import csv_cell

HEAD = ("rank", "name", "sha256", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "seeds")
TAIL = ("kl_budget", "censored_seeds", "created_at", "suite", "suite_config_hash", "harness_version", "git_revision",
        "judge", "record", "verified")


def columns(board: Board) -> tuple[str, ...]:
    """The CSV header: the entry's identity and primary win rate, then each of the suite's metric columns
    (``key``, with ``key_ci_low`` / ``key_ci_high`` when it has a CI and its count when it has one), then
    the protocol and provenance fields."""
    metric = []
    for c in board.metric_columns:
        for key in metric_json_keys(c):
            metric += [f"{key[:-3]}_ci_low", f"{key[:-3]}_ci_high"] if key.endswith("_ci") else [key]
    return (*HEAD, *metric, *TAIL)


def metric_json_keys(c) -> list[str]:
    return [c.key] + ([c.key + "_ci"] if c.ci else []) + ([c.count] if c.count else [])


def render_csv(board: Board) -> str:
    names = columns(board)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for e in board.entries:
        row = entry_json(board, e)
        for key in ["win_rate_ci", *(k for c in board.metric_columns for k in metric_json(e, c) if k.endswith("_ci"))]:
            row[f"{key[:-3]}_ci_low"], row[f"{key[:-3]}_ci_high"] = row.pop(key) or (None, None)
        writer.writerow({k: "" if row[k] is None else csv_cell(row[k]) for k in names})
    return out.getvalue()
