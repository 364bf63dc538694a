"""Concurrent submits in real processes never corrupt a board; a submit killed at any point leaves
the board as it was or fully updated (once the next locked operation has recovered it)."""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from harness.leaderboard import publish
from harness.leaderboard.publish import open_board, submit_record

# fork: children share the already-imported harness (no re-import of torch per child)
CTX = multiprocessing.get_context("fork")


def snapshot(board: Path) -> dict[str, bytes]:
    return {str(p.relative_to(board)): p.read_bytes() for p in sorted(board.rglob("*"))
            if p.is_file() and p.name != publish.LOCK}


def _submit_after_barrier(board, record, barrier, results):
    barrier.wait()
    results.put(submit_record(board, record, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED).action)


def _run_all(targets) -> None:
    procs = [CTX.Process(target=f, args=a) for f, a in targets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, f"a submitting process exited with {p.exitcode}"


def test_concurrent_submits_all_land_and_the_generated_files_agree(tmp_path):
    names = [f"loss{i}" for i in range(6)]
    barrier, results = CTX.Barrier(len(names) + 2), CTX.Queue()
    same = make_record("dup", 0.5)
    targets = [(_submit_after_barrier, (tmp_path, make_record(n, 0.3 + 0.05 * i), barrier, results))
               for i, n in enumerate(names)]
    targets += [(_submit_after_barrier, (tmp_path, same, barrier, results)) for _ in range(2)]
    _run_all(targets)
    actions = sorted(results.get(timeout=5) for _ in targets)
    assert actions == ["added"] * 7 + ["exists"]  # the duplicate landed once
    board = open_board(tmp_path, suite="tiny", expected_hash=SUITE_HASH)
    assert sorted(e.name for e in board.entries) == sorted([*names, "dup"])
    csv_rows = (tmp_path / "leaderboard.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 7
    assert (tmp_path / "index.html").read_text().count("<tr data-rank=") == 7
    assert not list(tmp_path.rglob(f"*{publish.TMP_MARK}*")) and not (tmp_path / publish.JOURNAL).exists()


def _submit_and_die_at(board, record, kill_at):
    """Submit, but SIGKILL this process just before its kill_at-th file-system step."""
    count = [0]

    def step(real):
        def wrapped(*args, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapped

    os.replace, os.fsync, os.unlink = step(os.replace), step(os.fsync), step(os.unlink)
    submit_record(board, record, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    os._exit(3)  # reached only when the submit needed fewer than kill_at steps


def _prepared_board(path: Path) -> None:
    for name, wr in (("dpo", 0.6), ("ipo", 0.5)):
        submit_record(path, make_record(name, wr), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    submit_record(path, make_record("slic", status="crash"), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)


def test_a_submit_killed_at_every_step_leaves_the_board_old_or_new(tmp_path):
    base = tmp_path / "base"
    _prepared_board(base)
    new = make_record("slic", 0.7)  # supersedes the failed run: writes, renames and a removal
    before = snapshot(base)
    after_dir = tmp_path / "after"
    shutil.copytree(base, after_dir)
    submit_record(after_dir, new, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    after = snapshot(after_dir)
    assert after != before
    seen = set()
    for kill_at in range(1, 40):
        board = tmp_path / f"k{kill_at}"
        shutil.copytree(base, board)
        p = CTX.Process(target=_submit_and_die_at, args=(board, new, kill_at))
        p.start()
        p.join(60)
        if p.exitcode == 3:  # the submit finished in fewer steps: every step has been tried
            break
        assert p.exitcode == -signal.SIGKILL
        open_board(board, suite="tiny", expected_hash=SUITE_HASH)  # the next locked operation recovers
        state = snapshot(board)
        assert state in (before, after), f"killed before step {kill_at}: the board is half-updated"
        seen.add("old" if state == before else "new")
    else:
        pytest.fail("the submit took more steps than the test tries")
    assert kill_at > 5 and seen == {"old", "new"}  # kills landed both before and after the commit point


def _slow_submit(board, record):
    real = os.replace

    def slow(*args):  # widen the window between steps so that the parent's kill lands mid-update
        time.sleep(0.02)
        return real(*args)

    os.replace = slow
    submit_record(board, record, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)


def test_a_submit_killed_from_outside_at_random_times_never_half_updates(tmp_path):
    base = tmp_path / "base"
    _prepared_board(base)
    before = snapshot(base)
    new = make_record("kto", 0.55)
    after_dir = tmp_path / "after"
    shutil.copytree(base, after_dir)
    submit_record(after_dir, new, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    after = snapshot(after_dir)
    rng = random.Random(0)
    for trial in range(6):
        board = tmp_path / f"t{trial}"
        shutil.copytree(base, board)
        p = CTX.Process(target=_slow_submit, args=(board, new))
        p.start()
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        open_board(board, suite="tiny", expected_hash=SUITE_HASH)
        assert snapshot(board) in (before, after), f"trial {trial}: the board is half-updated"
