"""leaderboard.csv: ranked entries only, full-precision numbers, one row per entry (AlpacaEval-like).

Every text cell goes through ``harness.text.csv_cell``: a loss name such as ``=HYPERLINK(...)`` is
written as text a spreadsheet will not evaluate (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json
from harness.text import csv_cell

COLUMNS = ("rank", "name", "sha256", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "seeds", "reward", "kl",
           "kl_budget", "censored_seeds", "burst_seeds", "burst_rate", "burst_rate_ci_low", "burst_rate_ci_high",
           "created_at", "suite", "suite_config_hash", "harness_version", "git_revision", "judge", "record", "verified")


def render_csv(board: Board) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in board.entries:
        row = entry_json(board, e)
        row["win_rate_ci_low"], row["win_rate_ci_high"] = row.pop("win_rate_ci")
        row["burst_rate_ci_low"], row["burst_rate_ci_high"] = row.pop("burst_rate_ci") or (None, None)
        writer.writerow({k: "" if row[k] is None else csv_cell(row[k]) for k in COLUMNS})
    return out.getvalue()
