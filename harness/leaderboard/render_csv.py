"""leaderboard.csv: one row per current entry, full-precision numbers (AlpacaEval-like).

Rows: the ranked entries (``section`` "ranked", best estimate first), then those shown apart from the
main scale (``section`` "apart", with ``apart_reason``; ranked only on the table named in
``ranked_on``, if any), then the unverified ones (``section`` "unverified", never ranked). ``rank``
and ``rank_worst`` are the two ends of the entry's rank interval (jointly 95%; equal when the entry
is told apart from every other): rank 1 for many rows means they are not told apart, and
``rank_worst`` says how far down each could be. ``verified`` is the board's own note on the record's
provenance (harness.leaderboard.board.is_verified). Failed runs and older suite configs are listed in
README.md and index.html only.

Every text cell goes through ``harness.text.csv_cell``: a loss name such as ``=HYPERLINK(...)`` is
written as text a spreadsheet will not evaluate (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

from harness.leaderboard.board import Board, Entry
from harness.leaderboard.rows import entry_json
from harness.text import csv_cell

COLUMNS = ("rank", "rank_worst", "section", "name", "sha256", "win_rate", "win_rate_ci_low", "win_rate_ci_high",
           "seeds", "reward", "kl", "kl_budget", "censored_seeds", "burst_seeds", "burst_rate", "burst_rate_ci_low",
           "burst_rate_ci_high", "ranked_on", "apart_reason",
           "created_at", "suite", "suite_config_hash", "harness_version", "git_revision", "judge", "record", "verified")


def _row(board: Board, e: Entry, section: str) -> dict:
    row = entry_json(board, e)
    row["win_rate_ci_low"], row["win_rate_ci_high"] = row.pop("win_rate_ci") or (None, None)
    row["burst_rate_ci_low"], row["burst_rate_ci_high"] = row.pop("burst_rate_ci") or (None, None)
    ranked = section != "unverified" and e.rank_interval is not None
    row["rank"], row["rank_worst"] = e.rank_interval if ranked else (None, None)
    row["ranked_on"] = e.ranked_on if ranked else None
    row["section"] = section
    return row


def render_csv(board: Board) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for section, entries in (("ranked", board.entries), ("apart", board.apart), ("unverified", board.unverified)):
        for e in entries:
            row = _row(board, e, section)
            writer.writerow({k: "" if row[k] is None else csv_cell(row[k]) for k in COLUMNS})
    return out.getvalue()
