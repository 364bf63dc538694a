"""A board shows the columns its suite declares (``Suite.board_columns``), in every renderer, from the
metrics each entry carries as data: the paper suites' LC win rate, smol's instruction score, tiny's
reward, KL and burst rate. No renderer names a suite's metric."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from harness.leaderboard.board import Board, Entry, build_board
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table
from harness.suites import SUITES

ROOT = Path(__file__).resolve().parent.parent


def _paper_board() -> Board:
    suite = SUITES.get("alpaca-eval")
    metrics = {"win_rate": 0.6, "win_rate_ci": [0.55, 0.65], "lc_win_rate": 0.5512, "lc_win_rate_ci": [0.5, 0.6]}
    entry = Entry(name="dpo", sha256="a" * 64, win_rate=0.6, win_rate_ci=(0.55, 0.65), seeds=2,
                  created_at="2026-12-06T00:00:00+00:00", record_file="records/a.json", source="def dpo(): ...",
                  metrics=metrics, rank=1, rank_interval=(1, 1), verified=True)
    return Board("alpaca-eval", suite.config_hash(), (entry,), columns=tuple(suite.board_columns))


def test_the_paper_suites_lc_win_rate_shows_on_every_rendering_of_their_board():
    board = _paper_board()
    assert [c.key for c in board.metric_columns] == ["lc_win_rate"]
    table = render_table(board)
    assert "LC win rate %" in table and "55.1 [50.0–60.0]" in table
    assert "LC win rate %" in render_readme(board)
    row = next(csv.DictReader(io.StringIO(render_csv(board))))
    assert float(row["lc_win_rate"]) == 0.5512 and row["lc_win_rate_ci_low"] == "0.5" and row["lc_win_rate_ci_high"] == "0.6"
    entry = json.loads(render_json(board))["entries"][0]
    assert entry["lc_win_rate"] == 0.5512 and entry["lc_win_rate_ci"] == [0.5, 0.6]
    page = render_html(board)
    assert 'data-key="lc-win-rate"' in page and ">LC win rate %<" in page and 'data-lc-win-rate="0.5512"' in page


def test_a_metric_column_no_entry_fills_is_left_out_of_the_text_tables():
    board = _paper_board()
    empty = Entry(**{**board.entries[0].__dict__, "metrics": {"win_rate": 0.6, "win_rate_ci": [0.55, 0.65]}})
    bare = Board(board.suite, board.config_hash, (empty,), columns=board.columns)
    assert "LC win rate" not in render_table(bare)
    assert json.loads(render_json(bare))["entries"][0]["lc_win_rate"] is None


def test_a_board_takes_its_columns_and_metrics_from_its_suite():
    paths = sorted((ROOT / "leaderboards" / "archive" / "tiny-v1" / "records").glob("*.json"))[:3]
    records = [(f"records/{p.name}", json.loads(p.read_text())) for p in paths]
    board = build_board("tiny", records[0][1]["suite"]["config_hash"], records)
    assert board.columns == SUITES.get("tiny").board_columns
    text = render_table(board)
    # (these archived records carry no seal of this machine's board key: they are listed as unverified)
    header = next(line for line in text.splitlines() if "win rate %" in line)
    for label in ("95% CI", "reward", "KL at end", "bursts", "seeds"):
        assert label in header, label
    shown = (*board.entries, *board.apart, *board.unverified)
    assert len(shown) == len(records)
    for e in shown:  # the record's own numbers, as data
        record = next(r for _, r in records if r["loss"]["sha256"] == e.sha256)
        assert e.metric("reward") == record["metrics"]["reward"] and e.metric("kl") == record["metrics"]["kl"]
