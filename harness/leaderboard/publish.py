"""Adding records to a board directory: serialised by a lock, all-or-nothing on disk.

Layout of ``leaderboards/<suite>/``::

    records/<loss sha256>-<suite config hash>.json   one immutable file per accepted entry
    failed/<loss sha256>-<suite config hash>.json    failed runs (listed, never ranked)
    leaderboard.csv, README.md, index.html           generated from the records; never edit them
    answers/<loss sha256>-<suite config hash>.html   generated answer pages of entries whose records keep answers

Concurrency: every writer (and every reader that renders) holds an exclusive ``fcntl.flock`` on
``.lock``. Crash safety: an update first writes every new file to a temp name (fsynced), then
atomically writes ``.journal.json`` naming the renames, then renames. A process killed before the
journal exists leaves only temp files (deleted by the next ``recover``): the board is as it was. A
process killed after it leaves a journal that ``recover`` replays: the board is fully updated.
The journal is a file of the folder, so it is checked before anything is replayed: it may only move
the board's own temp files onto the board's own files (harness.leaderboard.folder); it is git-ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.leaderboard.board import Board, admit, build_board, is_verified, read_board_records
from harness.leaderboard.folder import (
    ANSWERS_DIR,
    FAILED_DIR,
    RECORDS_DIR,
    TMP_MARK,
    BoardError,
    answer_page,
    check_folder,
    check_plan,
    inside,
    read_json_file,
)
from harness.leaderboard.render_answers import answer_pages
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_md import render_readme
from harness.leaderboard.rows import rank_text
from harness.leaderboard.verify import VerificationError, record_filename, verify_record
from harness.seal import seal
from harness.text import clean_line

LOCK = ".lock"
JOURNAL = ".journal.json"


@dataclass(frozen=True)
class SubmitOutcome:
    """What a submit did: ``added``, ``failed_recorded`` or ``exists`` (nothing changed)."""

    action: str
    path: Path
    message: str


@contextlib.contextmanager
def board_lock(board_dir: Path):
    """Exclusive lock on a board; replays or discards a crashed update before yielding."""
    board_dir.mkdir(parents=True, exist_ok=True)
    check_folder(board_dir)
    fd = os.open(board_dir / LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    with os.fdopen(fd, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            recover(board_dir)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def recover(board_dir: Path) -> None:
    """Finish an update whose journal was written; delete temp files of one that never got that far.

    Raises BoardError, replaying nothing, for a journal that names anything but the board's own temp
    files and files (harness.leaderboard.folder.check_plan)."""
    check_folder(board_dir)
    journal = board_dir / JOURNAL
    if journal.exists():
        try:
            plan = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BoardError(f"{journal}: not a readable journal ({e}); delete it (nothing was replayed)") from None
        renames = check_plan(board_dir, plan)
        for tmp, dst in renames:
            if tmp.exists():
                os.replace(tmp, dst)
        for rel in plan["remove"]:
            inside(board_dir, rel).unlink(missing_ok=True)
        _fsync_dir(board_dir)
        journal.unlink()
    for sub in (board_dir, board_dir / RECORDS_DIR, board_dir / FAILED_DIR, board_dir / ANSWERS_DIR):
        if sub.is_dir() and not sub.is_symlink():
            for stray in sub.glob(f"*{TMP_MARK}*"):
                if stray.is_file() or stray.is_symlink():
                    stray.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_tmp(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def commit(board_dir: Path, files: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    """Replace ``files`` ({relative path: text}) and delete ``remove``, all or nothing (see module doc)."""
    plan = {"replace": [], "remove": list(remove)}
    for rel, text in files.items():
        plan["replace"].append([str(_write_tmp(board_dir / rel, text).relative_to(board_dir)), rel])
    journal_tmp = _write_tmp(board_dir / JOURNAL, json.dumps(plan, indent=1))
    os.replace(journal_tmp, board_dir / JOURNAL)  # the commit point
    _fsync_dir(board_dir)
    recover(board_dir)


def generated_files(board: Board) -> dict[str, str]:
    return {"leaderboard.csv": render_csv(board), "README.md": render_readme(board),
            "index.html": render_html(board), **answer_pages(board)}


def stale_pages(board_dir: Path, files: dict[str, str]) -> tuple[str, ...]:
    """Answer pages on disk that the new files do not write again (their entry left the board); only files
    named as the harness names them (anything else in answers/ is not the board's and is left alone)."""
    pages = (f"{ANSWERS_DIR}/{p.name}" for p in sorted((board_dir / ANSWERS_DIR).glob("*.html")))
    return tuple(rel for rel in pages if answer_page(rel) and rel not in files)


def submit_record(board_dir: str | Path, record: dict, *, suite: str, expected_hash: str,
                  verification: dict | None = None) -> SubmitOutcome:
    """Verify ``record`` and add it to the board at ``board_dir`` (raises VerificationError).

    ``verification`` ({"verified": bool, "method": ..., "note": ...}) is what the caller proved about
    the record's provenance (``harness.leaderboard.proof``); it is stored in the board's copy of the
    record, replacing anything the record said about itself. Unverified entries are listed apart.
    """
    board_dir = Path(board_dir)
    verify_record(record, suite, expected_hash)
    note = verification or {"verified": False, "method": "none", "note": "not verified"}
    record = seal({k: v for k, v in record.items() if k != "verification"}, note)  # this process's own proof
    verified = note["verified"] is True
    name = record_filename(record)
    ok_rel, failed_rel = f"{RECORDS_DIR}/{name}", f"{FAILED_DIR}/{name}"
    label = f"{clean_line(record['loss']['name'])} ({record['loss']['sha256'][:12]})"
    with board_lock(board_dir):
        if (board_dir / ok_rel).exists() and (not verified or verified_on_board(board_dir / ok_rel)):
            return SubmitOutcome("exists", board_dir / ok_rel,
                                 f"{label} is already on the {suite} board with this suite config; nothing changed")
        if record["status"] != "ok" and (board_dir / failed_rel).exists():
            return SubmitOutcome("exists", board_dir / failed_rel,
                                 f"{label} already has a failed run on the {suite} board; nothing changed")
        rel = ok_rel if record["status"] == "ok" else failed_rel
        # an ok run supersedes an earlier failed run of the same file (the failure stays in the run store);
        # a verified run supersedes an unverified one
        remove = tuple(r for r in (failed_rel, ok_rel) if rel == ok_rel and (board_dir / r).exists())
        records = [(r, rec) for r, rec in read_board_records(board_dir) if r not in remove]
        board = build_board(suite, expected_hash, [*records, (rel, record)])
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        files = {rel: text, **generated_files(board)}
        commit(board_dir, files, tuple(r for r in remove if r != rel) + stale_pages(board_dir, files))
    if rel == ok_rel:
        entry = next((e for e in (*board.entries, *board.apart) if e.record_file == rel), None)
        if entry is None:
            return SubmitOutcome("added", board_dir / rel, f"{label} added to the {suite} board as UNVERIFIED "
                                 f"(listed apart, not ranked): {clean_line(record['verification'].get('note', ''))}")
        if entry.apart_reason:
            return SubmitOutcome("added", board_dir / rel, f"{label} added to the {suite} board, shown apart: "
                                 f"{entry.apart_reason}")
        return SubmitOutcome("added", board_dir / rel, f"{label} added to the {suite} board at rank "
                             f"{rank_text(entry)} of {len(board.entries)}")
    return SubmitOutcome("failed_recorded", board_dir / rel,
                         f"{label} failed ({record['status']}); listed under failed runs, not ranked")


def verified_on_board(path: Path) -> bool:
    """Whether the board's record file at ``path`` is a verified entry: its note says so and carries this
    board's seal (unreadable: not verified)."""
    try:
        return is_verified(read_json_file(path))
    except (ValueError, AttributeError):
        return False


def seal_board(board_dir: str | Path, *, suite: str, expected_hash: str) -> tuple[Board, list[str]]:
    """Seal, with this board's key, the records whose note says verified but carries no valid seal (the
    key's owner vouches for them: e.g. the repository's own boards after reviewing its history); only
    files that pass every check on load (``board.admit``) are sealed. Returns the board and the files
    sealed."""
    board_dir = _existing(board_dir, suite)
    with board_lock(board_dir):
        records = read_board_records(board_dir)
        changed = {}
        for rel, record in records:
            if rel.startswith(f"{RECORDS_DIR}/") and isinstance(record, dict) and not is_verified(record):
                note = record.get("verification")
                try:
                    admit(rel, record, suite)
                except VerificationError:
                    continue
                if isinstance(note, dict) and note.get("verified") is True:
                    changed[rel] = seal(record, {**note, "sealed_by": "harness leaderboard --seal"})
        records = [(rel, changed.get(rel, rec)) for rel, rec in records]
        board = build_board(suite, expected_hash, records)
        texts = {rel: json.dumps(rec, indent=2, sort_keys=True) + "\n" for rel, rec in changed.items()}
        commit(board_dir, {**texts, **generated_files(board)})
    return board, sorted(changed)


def open_board(board_dir: str | Path, *, suite: str, expected_hash: str, regenerate: bool = False) -> Board:
    """Load (and with ``regenerate``, rewrite the generated files of) a board, under its lock."""
    board_dir = _existing(board_dir, suite)
    with board_lock(board_dir):
        board = build_board(suite, expected_hash, read_board_records(board_dir))
        if regenerate:
            files = generated_files(board)
            commit(board_dir, files, stale_pages(board_dir, files))
    return board


def _existing(board_dir: str | Path, suite: str) -> Path:
    board_dir = Path(board_dir)
    if not (board_dir / RECORDS_DIR).is_dir() and not (board_dir / FAILED_DIR).is_dir():
        raise FileNotFoundError(f"{board_dir}: no board here (no records/ or failed/); "
                                f"add an entry with `harness submit --suite {suite}` or pass --board-dir")
    return board_dir
