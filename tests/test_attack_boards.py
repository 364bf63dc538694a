"""Attacks on a board folder and its record files (issue 29 items 2, 3 and 10): one test per class.

A stranger controls every byte of a board folder they hand over (a clone, a download, a pull request)
and of any record file in it. The board must read only what it can check, touch nothing outside the
folder, never count a file's own word that it was verified, and never be stopped or bloated by one
bad file. The threat table is at the top of harness/sandbox/__init__.py ("published results").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from harness.cli import main
from harness.leaderboard.board import is_verified
from harness.leaderboard.folder import BoardError
from harness.leaderboard.publish import JOURNAL, open_board, seal_board, submit_record
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table
from harness.leaderboard.verify import VerificationError, record_filename
from harness.paths import repo_root
from harness.records import MAX_ERROR_CHARS, RecordError, clip_error
from harness.seal import BOARD_KEY_ENV, KEY_FILE, seal, sealed
from harness.store import RunStore

REPO = repo_root()


@pytest.fixture
def board(tmp_path, monkeypatch):
    """A board with two sealed entries (dpo, ipo) in tmp_path/boards/tiny; leaderboard's hash pinned."""
    monkeypatch.setattr("harness.commands.leaderboard.current_suite_hash", lambda suite: SUITE_HASH)
    folder = tmp_path / "boards" / "tiny"
    t = outcome_tables([0.83, 0.6], seeds=3, prompts=64)
    for name, table in zip(("dpo", "ipo"), t, strict=True):
        submit_record(folder, record_with_outcomes(name, table, verified=None), suite="tiny",
                      expected_hash=SUITE_HASH, verification=VERIFIED)
    return folder


def leaderboard(folder: Path, *args):
    return CliRunner().invoke(main, ["leaderboard", "--board-dir", str(folder.parent), "--suite", "tiny", *args])


# ----------------------------------------------------------------- class 2: paths out of the folder

JOURNALS = {
    "climb with ..": lambda v: {"replace": [["records/../../../x.tmp-1-abcdef12", "../../../victim.txt"]],
                                "remove": ["../../../doomed.txt"]},
    "absolute paths": lambda v: {"replace": [[str(v / "attacker.txt"), str(v / "victim.txt")]],
                                 "remove": [str(v / "doomed.txt")]},
    "a rename onto a file that is not the board's": lambda v: {"replace": [["README.md.tmp-1-abcdef12", ".lock"]],
                                                                "remove": []},
    "a removal of a generated file": lambda v: {"replace": [], "remove": ["index.html"]},
    "not a journal": lambda v: ["rm -rf /"],
}


@pytest.mark.parametrize("label", sorted(JOURNALS))
def test_a_planted_journal_touches_nothing_and_is_reported(board, label):
    """A journal names what to rename and delete; a planted one must not replay, even for a read-only
    `harness leaderboard`: nothing outside the folder (or of its own records) changes, and it says why."""
    victim_dir = board.parent.parent
    (victim_dir / "victim.txt").write_text("precious")
    (victim_dir / "doomed.txt").write_text("keep me")
    (victim_dir / "attacker.txt").write_text("attacker text")
    (board / "README.md.tmp-1-abcdef12").write_text("attacker text")
    before = {p: p.read_bytes() for p in board.rglob("*") if p.is_file() and p.name != ".lock"}
    (board / JOURNAL).write_text(json.dumps(JOURNALS[label](victim_dir)))
    result = leaderboard(board)
    assert result.exit_code == 1, result.output
    assert ".journal.json" in result.output and "nothing was replayed" in result.output
    assert (victim_dir / "victim.txt").read_text() == "precious"
    assert (victim_dir / "doomed.txt").read_text() == "keep me"
    assert all(p.read_bytes() == data for p, data in before.items() if p.exists()) and (board / "index.html").exists()


def test_symbolic_links_in_a_board_folder_are_refused(board, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.json.tmp-1-abcdef12").write_text("not the board's")
    shutil.rmtree(board / "failed", ignore_errors=True)
    os.symlink(outside, board / "failed")  # the recovery would sweep temp files there, the writes go there
    with pytest.raises(BoardError, match="symbolic link"):
        open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert (outside / "x.json.tmp-1-abcdef12").exists()
    (board / "failed").unlink()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(make_record("stolen")))
    link = board / "records" / record_filename(make_record("stolen"))
    os.symlink(secret, link)  # a record "file" that reads a file outside the folder
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert [r.record_file for r in loaded.rejected] == [f"records/{link.name}"]
    assert "symbolic link" in loaded.rejected[0].reason and "stolen" not in render_html(loaded)


def test_the_journal_is_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("this test needs the repository's git checkout (it checks .gitignore)")
    for suite in ("tiny", "a-new-board"):
        out = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", f"leaderboards/{suite}/{JOURNAL}"])
        assert out.returncode == 0, f"leaderboards/{suite}/{JOURNAL} is not git-ignored"


# ------------------------------------------------------- class 3: a file's own word is not evidence

def forged(name: str, rows, note=None) -> dict:
    """A hand-written record that claims verification in its own file (no seal)."""
    record = record_with_outcomes(name, np.asarray(rows), verified=None)
    record["verification"] = note or {"verified": True, "method": "local", "note": "benchmarked here, honest"}
    return record


def drop(board: Path, record: dict) -> Path:
    path = board / "records" / record_filename(record)
    path.write_text(json.dumps(record))
    return path


def test_a_dropped_record_that_says_verified_is_not_ranked(board):
    """Consistent numbers and ``"verified": true`` in its own file: listed unverified, never ranked."""
    drop(board, forged("dpo_turbo", np.full((3, 64), 0.99)))
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert [e.name for e in loaded.entries] == ["dpo", "ipo"]
    assert [e.name for e in loaded.unverified] == ["dpo_turbo"]
    assert "no valid seal" in loaded.unverified[0].proof and not loaded.unverified[0].verified


def test_a_sealed_note_copied_onto_another_record_does_not_verify_it(board):
    real = json.loads(next((board / "records").glob("*.json")).read_text())
    assert is_verified(real)
    fake = forged("dpo_turbo", np.full((3, 64), 0.99), note=real["verification"])
    drop(board, fake)
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert "dpo_turbo" in [e.name for e in loaded.unverified]
    edited = {**real, "metrics": {**real["metrics"], "reward": 9.0}}  # one byte of a sealed record changed
    assert not sealed(edited)


def test_a_record_whose_headline_contradicts_its_own_table_is_rejected(board):
    """The red team's file: ranked at 99.0 while its verdict table averages 0.488."""
    record = forged("dpo_turbo", np.full((3, 64), 0.488))
    record["metrics"].update(win_rate=0.99, win_rate_ci=[0.98, 1.0])
    for s in record["per_seed"]:
        s["win_rate"] = 0.99
    record = seal(record, record["verification"])  # even a sealed one is checked in full
    path = drop(board, record)
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert "dpo_turbo" not in [e.name for e in (*loaded.entries, *loaded.unverified)]
    assert [r.record_file for r in loaded.rejected] == [f"records/{path.name}"]
    assert "outcomes row averages 0.4880" in loaded.rejected[0].reason


@pytest.mark.parametrize("value", ["0.5", True, [0.5], {"x": 1}])
def test_a_wrongly_typed_metric_is_rejected_and_crashes_nothing(board, value):
    record = make_record("stringly")
    record["metrics"]["reward"] = value
    path = drop(board, record)
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert [r.record_file for r in loaded.rejected] == [f"records/{path.name}"]
    assert "metrics.reward must be a finite number" in loaded.rejected[0].reason
    for render in (render_csv, render_html, render_json, render_readme, render_table):
        assert render(loaded)
    result = leaderboard(board)
    assert result.exit_code == 1 and "dpo" in result.output and "fail the checks on load" in result.output
    other = record_with_outcomes("slic", outcome_tables([0.5], seeds=3, prompts=64)[0], verified=None)
    assert submit_record(board, other, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED).action == "added"


def test_the_seal_key_lives_outside_the_board_and_the_owner_can_vouch(board, tmp_path, monkeypatch):
    """Without HARNESS_BOARD_KEY the key is a 0600 file under HARNESS_HOME; a board sealed with another
    key (the repository's own boards, seen on a new machine) reads as unverified until its owner vouches."""
    monkeypatch.delenv(BOARD_KEY_ENV)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH)
    assert not loaded.entries and len(loaded.unverified) == 2 and not (tmp_path / "home" / KEY_FILE).exists()
    board2, changed = seal_board(board, suite="tiny", expected_hash=SUITE_HASH)
    key = tmp_path / "home" / KEY_FILE
    assert len(changed) == 2 and [e.name for e in board2.entries] == ["dpo", "ipo"]
    assert key.stat().st_mode & 0o777 == 0o600 and board.resolve() not in key.resolve().parents
    assert all(e.proof == "run here" for e in board2.entries)


# ----------------------------------------------------------------------- class 10: size caps

def test_a_huge_failed_record_is_refused_everywhere(board, tmp_path):
    """A crash record with a 40 MB source (it grew index.html to 43 MB): refused by submit and by the run
    store; dropped into failed/ it is rejected unread, and the page stays small."""
    record = make_record("bloat", status="crash", verified=None)
    record["loss"]["source"] = "#" * (40 << 20)
    with pytest.raises(VerificationError, match="larger than 200000 bytes"):
        submit_record(board, record, suite="tiny", expected_hash=SUITE_HASH)
    with pytest.raises(RecordError, match="larger than"):
        RunStore(f"sqlite:///{tmp_path / 'runs.sqlite'}").add(record)
    for field, value in (("error", "x" * (MAX_ERROR_CHARS + 1)), ("name", "n" * 10_000)):
        small = make_record("bloat", status="crash", verified=None)
        (small if field == "error" else small["loss"])[field] = value
        with pytest.raises(VerificationError):
            submit_record(board, small, suite="tiny", expected_hash=SUITE_HASH)
    before = (board / "index.html").stat().st_size
    (board / "failed").mkdir(exist_ok=True)
    path = board / "failed" / record_filename(record)
    path.write_text(json.dumps(record))
    t = time.perf_counter()
    loaded = open_board(board, suite="tiny", expected_hash=SUITE_HASH, regenerate=True)
    assert time.perf_counter() - t < 10
    assert [r.record_file for r in loaded.rejected] == [f"failed/{path.name}"] and "bytes" in loaded.rejected[0].reason
    assert (board / "index.html").stat().st_size < before + 10_000


def test_a_long_error_is_clipped_to_its_end_where_a_record_is_made():
    text = "start " + "x" * (3 * MAX_ERROR_CHARS) + " RuntimeError: the real cause"
    clipped = clip_error(text)
    assert len(clipped) == MAX_ERROR_CHARS and clipped.endswith("the real cause")
