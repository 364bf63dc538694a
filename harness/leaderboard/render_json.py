"""JSON output of `harness leaderboard --format json`: an array of ranked entries."""

from __future__ import annotations

import json

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json


def render_json(board: Board) -> str:
    return json.dumps([entry_json(board, e) for e in board.entries], indent=2) + "\n"
