"""JSON output of `harness leaderboard --format json`: an array of entries, ranked ones first.

Each entry carries ``verified`` (bool); unverified entries (provenance not proven) follow the ranked
ones with ``rank`` null."""

from __future__ import annotations

import json

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json


def render_json(board: Board) -> str:
    unverified = [{**entry_json(board, e), "rank": None} for e in board.unverified]
    return json.dumps([entry_json(board, e) for e in board.entries] + unverified, indent=2, allow_nan=False) + "\n"
