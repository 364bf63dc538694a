"""Ranking with uncertainty, board loading, and the csv / md / json / html renderers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_leaderboard_records import SUITE_CONFIG, SUITE_HASH, VERIFIED, make_record

from harness.leaderboard.board import build_board, uncertainty_ranks
from harness.leaderboard.publish import open_board, submit_record
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table
from harness.leaderboard.render_svg import pareto_front


def records(*recs):
    """(board path, record) pairs as a board folder holds them: each record's verification note sealed
    with the board key, as ``submit_record`` seals it (the tests edit records after making them)."""
    from harness.leaderboard.verify import record_filename
    from harness.seal import seal

    recs = [seal(r, r["verification"]) if isinstance(r.get("verification"), dict) else r for r in recs]
    return [(("records/" if r["status"] == "ok" else "failed/") + record_filename(r), r) for r in recs]


def md_cells(md: str) -> list[list[str]]:
    """Cells of the Markdown table rows (separator lines dropped)."""
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in md.splitlines()
            if line.startswith("|") and not line.startswith("|--") and not line.startswith("|:")]


def sample_board():
    return build_board("tiny", SUITE_HASH, records(
        make_record("dpo", 0.60, 0.05), make_record("ipo", 0.58, 0.05), make_record("slic", 0.40, 0.03),
        make_record("broken", status="crash"), make_record("old", 0.9, 0.01, config={**SUITE_CONFIG, "prompts": 8})))


def test_overlapping_cis_share_a_rank_and_separated_ones_do_not():
    # a=[.55,.65] b=[.53,.63] overlap; c=[.37,.43] lies below both; d=[.60,.70] overlaps a and b only
    assert uncertainty_ranks([(.55, .65), (.53, .63), (.37, .43), (.60, .70)]) == [1, 1, 4, 1]
    # a strictly dominating entry pushes the rank of every entry below it
    assert uncertainty_ranks([(.8, .9), (.1, .2), (.15, .25)]) == [1, 2, 2]


def test_board_ranks_ok_runs_and_lists_failed_and_stale_separately():
    board = sample_board()
    assert [(e.name, e.rank) for e in board.entries] == [("dpo", 1), ("ipo", 1), ("slic", 3)]
    assert [f.name for f in board.failed] == ["broken"] and board.failed[0].status == "crash"
    assert [e.name for e in board.stale] == ["old"]
    assert board.measures_kl


def test_json_has_the_promised_fields_for_ranked_entries_only():
    entries = json.loads(render_json(sample_board()))["entries"]
    assert [e["name"] for e in entries] == ["dpo", "ipo", "slic"]
    for key in ("name", "sha256", "rank", "win_rate", "win_rate_ci", "seeds"):
        assert key in entries[0]
    assert entries[0]["win_rate_ci"] == pytest.approx([0.55, 0.65]) and entries[0]["seeds"] == 3


def test_csv_and_markdown_show_entries_ci_and_failed_runs():
    board = sample_board()
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert [r["name"] for r in rows] == ["dpo", "ipo", "slic"] and rows[2]["rank"] == "3"
    assert float(rows[0]["win_rate_ci_low"]) == pytest.approx(0.55)
    md = render_readme(board)
    assert md_cells(md)[1][:4] == ["1–2", "dpo", "60.0", "55.0 – 65.0"] and "## Failed runs (not ranked)" in md
    assert "RuntimeError: loss returned NaN" in md and "do not edit by hand" in md
    table = render_table(board)
    assert "Failed runs (not ranked): 1" in table and "older suite config" in table


def test_html_is_self_contained_and_escapes_loss_text():
    board = build_board("tiny", SUITE_HASH, records(make_record("x</script><b>{{data}}", 0.5)))
    page = render_html(board)
    assert "</script><b>" not in page.split('id="board-data">')[1].split("</script>")[0]
    assert "{{" not in page.replace("{{data}}", "")  # every placeholder filled; the name's text stays inert
    for remote in ("src=\"http", "href=\"http", "<link", "@import", "url("):
        assert remote not in page
    assert page.count('<tr data-rank=') == 1 and '<svg id="frontier"' in page


def test_pareto_front_keeps_only_undominated_points():
    assert pareto_front([(1, 1), (2, 3), (2.5, 2), (3, 4), (0.5, 0.2)]) == [(0.5, 0.2), (1, 1), (2, 3), (3, 4)]


def test_a_hand_edited_record_file_is_rejected_with_the_reason(tmp_path: Path):
    """One bad file never stops the board: it is listed as rejected, with why, and nothing of it is ranked."""
    outcome = submit_record(tmp_path, make_record("dpo"), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    submit_record(tmp_path, make_record("ipo", 0.5), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    data = json.loads(outcome.path.read_text())
    data["metrics"]["win_rate"] = 0.99
    data["metrics"]["win_rate_ci"] = [0.98, 1.0]
    data["loss"]["source"] += "# better\n"
    outcome.path.write_text(json.dumps(data))
    board = open_board(tmp_path, suite="tiny", expected_hash=SUITE_HASH)
    assert [e.name for e in board.entries] == ["ipo"]
    assert [r.record_file for r in board.rejected] == [f"records/{outcome.path.name}"]
    assert "does not match its embedded source" in board.rejected[0].reason
    assert "Rejected files" in render_readme(board) and outcome.path.name in render_html(board)


def test_markdown_cells_cannot_break_the_table():
    record = make_record("a|b", status="crash")
    record["error"] = "line one\nValueError: x | y"
    md = render_readme(build_board("tiny", SUITE_HASH, records(make_record("ok|loss"), record)))
    assert "ok\\|loss" in md and "ValueError: x \\| y" in md
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.count("|") - line.count("\\|") == table_lines[0].count("|") for line in table_lines[:3])


def test_censored_entries_are_marked_and_the_kl_budget_explained():
    board = build_board("tiny", SUITE_HASH, records(make_record("dpo"), make_record("ipo", 0.5, censored_seeds=2)))
    md = render_readme(board)
    assert ["", "ipo", "50.0 †"] in [row[:3] for row in md_cells(md)] and "first reaches 2 nats" in md
    assert "## Shown apart" in md  # a censored entry is never ranked on the same scale
    assert json.loads(render_json(board))["apart"][0]["censored_seeds"] == 2
    page = render_html(board)
    assert "2 of 3 seeds never reached the KL budget" in page and 'class="budget"' in page


def test_markdown_leaves_out_metric_columns_no_entry_has():
    recs = [make_record("dpo", 0.60, 0.05), make_record("ipo", 0.50, 0.05)]
    for r in recs:  # a suite without a gold reward or a KL (smol, the paper suites)
        del r["metrics"]["reward"], r["metrics"]["kl"]
    header = md_cells(render_readme(build_board("tiny", SUITE_HASH, records(*recs))))[0]
    assert "reward" not in header and "KL at end" not in header and header[:3] == ["rank", "loss", "win rate %"]
    assert {"reward", "KL at end"} <= set(md_cells(render_readme(sample_board()))[0])


def test_each_hyper_parameter_setting_is_its_own_labelled_entry(tmp_path):
    """Same loss file, two settings: two entries (keys and files apart), each labelled with its setting,
    in every renderer; a record of a loss without hyper-parameters keeps its old key and file name."""
    from harness.leaderboard.verify import record_filename

    low, high = make_record("ld_dpo", 0.62, 0.04), make_record("ld_dpo", 0.50, 0.04)
    low["loss"]["hyperparameters"], high["loss"]["hyperparameters"] = {"ld_alpha": 0.25}, {"ld_alpha": 0.5}
    plain = make_record("dpo", 0.55, 0.04)
    assert record_filename(plain) == f"{plain['loss']['sha256']}-{SUITE_HASH}.json"
    assert record_filename(low) != record_filename(high)
    board = build_board("tiny", SUITE_HASH, records(low, high, plain))
    assert [e.name for e in board.entries] == ["ld_dpo [ld_alpha=0.25]", "dpo", "ld_dpo [ld_alpha=0.5]"]
    assert len({e.key for e in board.entries}) == 3 and len({e.sha256 for e in board.entries}) == 2
    assert "ld_dpo [ld_alpha=0.25]" in render_table(board) and "ld_dpo [ld_alpha=0.5]" in render_csv(board)
    assert {e["name"] for e in json.loads(render_json(board))["entries"]} >= {"ld_dpo [ld_alpha=0.25]"}
    assert "ld_dpo [ld_alpha=0.5]" in render_html(board)
    board_dir = tmp_path / "tiny"
    for r in (low, high):  # both settings are accepted by the same board, as two files
        submit_record(board_dir, r, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    assert len(list((board_dir / "records").glob("*.json"))) == 2
