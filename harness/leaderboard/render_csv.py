"""leaderboard.csv: ranked entries only, full-precision numbers, one row per entry (AlpacaEval-like)."""

from __future__ import annotations

import csv
import io

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json

COLUMNS = ("rank", "name", "sha256", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "seeds", "reward", "kl",
           "kl_budget", "censored_seeds",
           "created_at", "suite", "suite_config_hash", "harness_version", "git_revision", "judge", "record")


def render_csv(board: Board) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in board.entries:
        row = entry_json(board, e)
        row["win_rate_ci_low"], row["win_rate_ci_high"] = row.pop("win_rate_ci")
        writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return out.getvalue()
