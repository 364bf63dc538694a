"""Large boards and what the CSV carries (issue 32, faults 8 and 15): pair look-ups that do not scan every
pair, a ranking computed without forming every pair's table, a head-to-head matrix of bounded size, and a
CSV with the rank interval, the entries shown apart with their reason, and the real verification state."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_board import records
from test_leaderboard_records import SUITE_HASH, make_record

from harness.leaderboard.board import build_board
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import HEAD_TO_HEAD_MAX, render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme
from harness.stats.crossed import batch_pieces
from harness.stats.ranks import JointRanking, _difference_pieces, joint_ranking


# -- fault 8: the board's cost does not grow with the square of its pairs ----------------------------------
class CountingPairs(tuple):
    """The ranking's pairs, counting how often they are scanned."""

    scans = 0

    def __iter__(self):
        type(self).scans += 1
        return super().__iter__()


def test_a_pair_look_up_does_not_scan_every_pair():
    t = outcome_tables(np.linspace(0.4, 0.8, 12), prompts=32)
    ranking = joint_ranking({f"k{i}": t[i] for i in range(12)}, {f"k{i}": [0, 1, 2] for i in range(12)})
    counted = JointRanking(ranking.order, ranking.means, ranking.rank_intervals, CountingPairs(ranking.pairs),
                           ranking.level)
    CountingPairs.scans = 0
    for a in ranking.order:
        for b in ranking.order:
            if a != b:
                assert counted.pair(a, b).difference == pytest.approx(-counted.pair(b, a).difference)
    assert CountingPairs.scans <= 1  # one pass to index them, not one per look-up (132 here)


def test_pair_pieces_from_gram_matrices_equal_the_direct_differences():
    rng = np.random.default_rng(3)
    tables = {f"k{i}": rng.integers(0, 3, size=(4, 40)) / 2 for i in range(6)}
    tables["twin"] = tables["k0"].copy()  # an identical loss: every piece exactly zero
    tables["swap"] = tables["k1"][:, [1, 0, *range(2, 40)]]  # same seed means as k1: no seed piece at all
    rows = {k: {s: t[s] for s in range(4)} for k, t in tables.items()}
    keys = sorted(tables)
    group = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    means, seed, prompt, width = _difference_pieces(rows, (0, 1, 2, 3), group)
    direct = batch_pieces(np.stack([tables[a] - tables[b] for a, b in group]))
    assert width == 40
    np.testing.assert_allclose(means, direct[0], atol=1e-12)
    np.testing.assert_allclose(seed, direct[1], atol=1e-12)
    np.testing.assert_allclose(prompt, direct[2], atol=1e-12)
    twin = group.index(("k0", "twin"))
    assert means[twin] == seed[twin] == 0.0 and prompt[twin] == pytest.approx(0.0, abs=1e-15)
    assert seed[group.index(("k1", "swap"))] == 0.0  # exactly: a rounding residue would wreck the moderation


@pytest.fixture(scope="module")
def large_board():
    n = 150
    tables = outcome_tables(np.linspace(0.35, 0.85, n), prompts=128)
    return build_board("tiny", SUITE_HASH, records(*[record_with_outcomes(f"loss_{i:03d}", t)
                                                     for i, t in enumerate(tables)]))


@pytest.mark.timeout(120)
def test_a_150_entry_board_ranks_and_renders_in_seconds_with_a_bounded_matrix(large_board):
    t = time.perf_counter()
    page = render_html(large_board)
    pages = [render_csv(large_board), render_json(large_board), render_readme(large_board)]
    seconds = time.perf_counter() - t
    assert seconds < 10, f"rendering 150 entries took {seconds:.1f} s"  # 15-20 s before the fix, ~0.3 s after
    matrix = page.split('<details id="head-to-head">')[1].split("</details>")[0]
    assert matrix.count('<th scope="row">') == HEAD_TO_HEAD_MAX
    assert f"The {HEAD_TO_HEAD_MAX} best of 150 ranked entries" in matrix and "--format json" in matrix
    assert len(page) < 1_000_000  # the page stays a page (7.7 MB at 240 entries before)
    out = json.loads(pages[1])
    assert len(out["pairs"]) == 150 * 149 // 2  # every pair remains available


# -- fault 15: the CSV carries the rank interval, the entries apart, the verification state ------------------
def test_the_csv_carries_rank_intervals_entries_apart_and_the_verification_state():
    t = outcome_tables([0.84, 0.84, 0.83, 0.30, 0.70], seeds=3, prompts=128)
    kl1 = {"kl1": t[0].tolist()}
    recs = [record_with_outcomes(n, tab, extra_tables=kl1) for n, tab in zip(("dpo", "ipo", "slic", "bad"), t[:4],
                                                                              strict=True)]
    recs.append(record_with_outcomes("unstable", t[4], extra_tables=kl1,
                                     seed_status=["measured", "censored", "unresolved"]))
    recs.append(make_record("legacy", 0.9, 0.02))  # no per-prompt outcomes: shown apart, unranked
    recs.append(record_with_outcomes("claimed", t[0], verified=False))  # provenance not proven
    board = build_board("tiny", SUITE_HASH, records(*recs))
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(render_csv(board)))}
    assert set(rows) == {"dpo", "ipo", "slic", "bad", "unstable", "legacy", "claimed"}
    tied = [rows[n] for n in ("dpo", "ipo", "slic")]
    assert all(r["section"] == "ranked" and r["rank"] == "1" and int(r["rank_worst"]) >= 2 for r in tied)
    assert (rows["bad"]["rank"], rows["bad"]["rank_worst"]) == ("4", "4")
    assert rows["unstable"]["section"] == "apart" and "censored" in rows["unstable"]["apart_reason"]
    assert rows["unstable"]["ranked_on"] == "kl1" and rows["unstable"]["rank"]
    assert rows["legacy"]["section"] == "apart" and "no per-prompt outcomes" in rows["legacy"]["apart_reason"]
    assert rows["legacy"]["rank"] == rows["legacy"]["rank_worst"] == ""
    assert (rows["claimed"]["section"], rows["claimed"]["rank"], rows["claimed"]["verified"]) == \
        ("unverified", "", "False")
    assert all(r["verified"] == "True" for n, r in rows.items() if n != "claimed")
    sections = [r["section"] for r in rows.values()]
    assert sections == sorted(sections, key=["ranked", "apart", "unverified"].index)  # ranked rows first
