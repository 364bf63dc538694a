"""Boards of records with per-prompt outcomes: joint paired ranks, separability, entries shown apart."""

from __future__ import annotations

import json

import pytest
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_board import records
from test_leaderboard_records import SUITE_HASH, make_record

from harness.leaderboard.board import build_board
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table


@pytest.fixture(scope="module")
def board():
    t = outcome_tables([0.84, 0.84, 0.30, 0.70], seeds=3, prompts=128)
    kl1 = {"kl1": t[0].tolist()}
    recs = [record_with_outcomes(n, tab, extra_tables=kl1)
            for n, tab in zip(("dpo", "ipo", "<b>rev</b>"), t[:3], strict=True)]
    recs.append(record_with_outcomes("unstable", t[3], extra_tables=kl1,
                                     seed_status=["measured", "censored", "unresolved"]))
    recs.append(make_record("legacy", 0.9, 0.02))
    return build_board("tiny", SUITE_HASH, records(*recs))


def test_entries_are_sorted_by_estimate_with_joint_rank_intervals(board):
    names = [e.name for e in board.entries]
    assert set(names[:2]) == {"dpo", "ipo"} and names[2] == "<b>rev</b>"
    assert [e.win_rate for e in board.entries] == sorted((e.win_rate for e in board.entries), reverse=True)
    intervals = {e.name: e.rank_interval for e in board.entries}
    assert intervals["dpo"] == intervals["ipo"] == (1, 2) and intervals["<b>rev</b>"] == (3, 3)
    assert all(e.ranked_on == "verdict" for e in board.entries)
    assert board.separability == pytest.approx(2 / 3)


def test_censored_and_unpaired_entries_are_shown_apart(board):
    apart = {e.name: e for e in board.apart}
    assert set(apart) == {"unstable", "legacy"}
    assert apart["unstable"].ranked_on == "kl1" and apart["unstable"].rank_interval == (1, 4)
    assert "censored" in apart["unstable"].apart_reason
    assert apart["legacy"].rank_interval is None and "schema 1" in apart["legacy"].apart_reason


def test_an_all_kl1_board_ranks_the_censored_entry_at_one_nat():
    t = outcome_tables([0.84, 0.5], seeds=3, prompts=64)
    a = record_with_outcomes("a", t[0], extra_tables={"kl1": t[0].tolist()})
    b = record_with_outcomes("b", t[1], extra_tables={"kl1": t[1].tolist()}, seed_status=["censored"] * 3)
    board = build_board("tiny", SUITE_HASH, records(a, b))
    assert [e.name for e in board.entries] == ["a"] and board.entries[0].rank_interval == (1, 1)
    assert board.apart[0].ranked_on == "kl1" and board.apart[0].rank_interval == (2, 2)


def test_json_is_an_object_with_entries_separability_and_pairs(board):
    out = json.loads(render_json(board))
    assert out["separability"] == pytest.approx(2 / 3) and len(out["pairs"]) == 3
    assert all(e["rank_interval"] and e["kl_measured_at"] == "end of training" for e in out["entries"])
    assert {e["name"] for e in out["apart"]} == {"unstable", "legacy"}
    sep = {(p["a"], p["b"]): p["separated"] for p in out["pairs"]}
    assert sum(sep.values()) == 2


def test_page_has_an_escaped_head_to_head_matrix_and_a_labelled_kl_column(board):
    page = render_html(board)
    assert '<details id="head-to-head">' in page and "<b>rev</b>" not in page and "&lt;b&gt;rev&lt;/b&gt;" in page
    assert "KL at end" in page and "Shown apart" in page
    assert "KL at end" in render_table(board) and "Shown apart" in render_readme(board)


def test_an_entry_with_no_measured_seed_is_shown_apart_as_not_measured():
    """Every seed unresolved at the verdict point (a loss whose KL jumps over the budget): no headline
    is invented; the entry is listed apart, ranked at 1 nat with the others, and every renderer copes."""
    t = outcome_tables([0.84, 0.5], seeds=3, prompts=64)
    a = record_with_outcomes("a", t[0], extra_tables={"kl1": t[0].tolist()})
    b = record_with_outcomes("jumpy", t[1], extra_tables={"kl1": t[1].tolist()}, seed_status=["unresolved"] * 3)
    b["metrics"].update(win_rate=None, win_rate_ci=None, measured_seeds=0)
    for seed in b["per_seed"]:
        seed["win_rate"] = None
    board = build_board("tiny", SUITE_HASH, records(a, b))
    apart = board.apart[0]
    assert apart.name == "jumpy" and apart.win_rate is None and apart.win_rate_ci is None
    assert apart.ranked_on == "kl1" and apart.rank_interval == (2, 2)
    assert "not measured" in render_table(board) and "not measured" in render_html(board)
    assert json.loads(render_json(board))["apart"][0]["win_rate"] is None
