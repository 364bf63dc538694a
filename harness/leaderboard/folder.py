"""A board folder's files, read and written only inside it.

A board folder may come from anyone (a clone, a download, a pull request), so every path the harness
reads from it or writes into it is confined to it: a path named by a file of the folder (the update
journal) must be relative, free of ``..``, resolve (symbolic links followed) inside the folder, and
be one of the board's own files; the folder's ``records/`` and ``failed/`` must be real directories,
and its lock, journal and record files regular files, never symbolic links; ``answers/`` (generated
answer pages) a real directory too. Record files are read
with a size cap and strict JSON (no NaN or Infinity). A violation is a ``BoardError`` that names the
file and the fix; nothing is replayed, deleted or written before the check passes.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

RECORDS_DIR = "records"
FAILED_DIR = "failed"
GENERATED = ("leaderboard.csv", "README.md", "index.html")
ANSWERS_DIR = "answers"  # generated answer pages, one per entry whose record keeps answers (render_answers)
TMP_MARK = ".tmp-"
MAX_RECORD_FILE_BYTES = 4 << 20  # a real record is ~75 KB (3 seeds x 64 prompts x 5 tables + trajectories)
# a record's file name: <loss sha256>[-<hyper-parameter setting key>]-<suite config hash>.json (harness.leaderboard.verify.record_filename)
RECORD_NAME = re.compile(r"[0-9a-f]{64}(-[0-9a-f]{12})?-[0-9a-f]{16}\.json")
ANSWER_PAGE = re.compile(r"[0-9a-f]{64}(-[0-9a-f]{12})?-[0-9a-f]{16}\.html")  # answers/<the record's name>.html
_TMP_SUFFIX = re.compile(re.escape(TMP_MARK) + r"[0-9]+-[0-9a-f]{8}")


class BoardError(RuntimeError):
    """A board directory holds something it must not (a tampered or misnamed record, a path outside it)."""


def inside(board_dir: Path, rel) -> Path:
    """The file ``rel`` (a relative path read from the board) inside ``board_dir``, resolved.

    Raises BoardError for anything else: not a string, absolute, with ``..``, or resolving (through a
    symbolic link) outside the folder."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise BoardError(f"{board_dir}: a path in the board is not a file name ({str(rel)[:80]!r})")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise BoardError(f"{board_dir}: the path {rel[:200]!r} leaves the board folder; a board names only its own files")
    root = Path(board_dir).resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise BoardError(f"{board_dir}: the path {rel[:200]!r} resolves to {path}, outside the board folder "
                         "(a symbolic link?); remove the link")
    return path


def board_file(rel) -> bool:
    """Whether ``rel`` names one of a board's own files: a record, a failed run or a generated file (an
    answers page included)."""
    if rel in GENERATED or answer_page(rel):
        return True
    sub, _, name = str(rel).partition("/")
    return sub in (RECORDS_DIR, FAILED_DIR) and RECORD_NAME.fullmatch(name) is not None


def answer_page(rel) -> bool:
    """Whether ``rel`` names a generated answers page (``answers/<record name>.html``)."""
    sub, _, name = str(rel).partition("/")
    return sub == ANSWERS_DIR and ANSWER_PAGE.fullmatch(name) is not None


def check_plan(board_dir: Path, plan) -> list[tuple[Path, Path]]:
    """The journal's renames as resolved (temp file, destination) pairs and its removals, after checking
    that it only moves the board's own temp files onto the board's own files; BoardError otherwise."""
    where = f"{board_dir}/.journal.json"
    if not isinstance(plan, dict) or set(plan) != {"replace", "remove"} or not isinstance(plan["replace"], list) \
            or not isinstance(plan["remove"], list):
        raise BoardError(f"{where} is not a journal harness wrote; delete it (nothing was replayed)")
    renames = []
    for pair in plan["replace"]:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise BoardError(f"{where} holds a malformed rename; delete it (nothing was replayed)")
        tmp, dst = pair
        if not board_file(dst) or not (tmp.startswith(dst) and _TMP_SUFFIX.fullmatch(tmp[len(dst):])):
            raise BoardError(f"{where} renames {tmp[:120]!r} onto {dst[:120]!r}, which is not one of the board's "
                             "own files; it was not written by harness: delete it (nothing was replayed)")
        renames.append((inside(board_dir, tmp), inside(board_dir, dst)))
    for rel in plan["remove"]:
        # a generated file is never removed, but an answers page whose entry left the board is
        if not isinstance(rel, str) or not board_file(rel) or rel in GENERATED:
            raise BoardError(f"{where} removes {str(rel)[:120]!r}, which is not a record of the board; it was not "
                             "written by harness: delete it (nothing was replayed)")
        inside(board_dir, rel)
    return renames


def check_folder(board_dir: Path) -> None:
    """The folder's structure: records/ and failed/ real directories (or absent), the lock and journal
    regular files (or absent). Raises BoardError naming what to remove."""
    for name in (RECORDS_DIR, FAILED_DIR, ANSWERS_DIR, ".lock", ".journal.json"):
        path = Path(board_dir) / name
        if path.is_symlink():
            raise BoardError(f"{path} is a symbolic link; a board folder holds its own files only: remove it")
        if name in (RECORDS_DIR, FAILED_DIR, ANSWERS_DIR) and path.exists() and not path.is_dir():
            raise BoardError(f"{path} is not a directory; remove it")


def read_json_file(path: Path, limit: int = MAX_RECORD_FILE_BYTES):
    """The JSON value in the regular file ``path`` (not a symbolic link, at most ``limit`` bytes, no
    NaN or Infinity). Raises ValueError with the reason."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ValueError("a symbolic link, not a record file" if e.filename and Path(path).is_symlink()
                         else f"cannot be read ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, more than a record may have ({limit})")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"more than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"not strict JSON ({str(e)[:200]})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (records hold finite numbers only)")
