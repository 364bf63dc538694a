"""The board's ``answers/<record>.html`` pages: one answer viewer (harness.viewer) per entry whose record
keeps its answers, linked from the board page. Generated with the board's other files."""

from __future__ import annotations

from harness.leaderboard.board import Board, Entry
from harness.leaderboard.rows import ci_text, win_text
from harness.viewer import render_page


def entry_page(board: Board, e: Entry) -> str:
    meta = [("loss", e.name), ("sha256", e.sha256), ("suite", f"{board.suite} ({board.config_hash})"),
            ("win rate", f"{win_text(e)}% (95% CI {ci_text(e)})" if e.win_rate_ci else win_text(e)),
            ("seeds", str(e.seeds)), ("record", e.record_file), ("created", e.created_at)]
    return render_page(f"Answers: {e.name} on the {board.suite} board", meta, e.answers)


def answer_pages(board: Board) -> dict[str, str]:
    """{board-relative path: page} for every listed entry with answers (ranked, apart, unverified)."""
    return {e.answers_page: entry_page(board, e) for e in (*board.entries, *board.apart, *board.unverified)
            if e.answers_page}
