"""The board's seal on a record's verification: only what this board's own process proved counts.

A record file carries a ``verification`` note (how its provenance was proven: benchmarked here, a
trusted runner's signature, seeds re-run here). Anyone who can write into a board folder can also
write ``"verified": true`` into a file, so the note counts only with a valid seal: an HMAC-SHA256,
by the board key, of the whole record (canonical JSON, the seal itself left out), written by
``publish.submit_record`` after the proof. Editing any byte of a sealed record, or copying a sealed
note onto another record, breaks the seal; an unsealed or broken note is read as unverified.

The board key lives outside every board folder: the environment variable ``HARNESS_BOARD_KEY`` when
set (a shared board maintained by CI keeps it as a secret), else the file ``board.key`` under
``HARNESS_HOME`` (created on first use, 32 random bytes, mode 0600). A board folder made or copied
elsewhere therefore shows its entries as unverified here until they are re-run (``harness submit
--record``) or their maintainer's key is given, or the owner of this key vouches for them with
``harness leaderboard --seal`` (e.g. the repository's own boards, after reviewing its history).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from harness.hashing import canonical_json
from harness.paths import harness_home

BOARD_KEY_ENV = "HARNESS_BOARD_KEY"
KEY_FILE = "board.key"
SEAL = "seal"


class SealError(RuntimeError):
    """The board key cannot be read or created; the message says where and how to fix it."""


def key_path() -> Path:
    return harness_home() / KEY_FILE


def board_key(create: bool = False) -> bytes | None:
    """The board key: ``HARNESS_BOARD_KEY``, else the key file (made when ``create``); None if neither."""
    env = os.environ.get(BOARD_KEY_ENV, "")
    if env:
        return env.encode("utf-8")
    path = key_path()
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            return None
        return _create_key(path)
    except OSError as e:
        raise SealError(f"cannot read the board key {path} ({e.strerror}); fix its permissions or set "
                        f"{BOARD_KEY_ENV}") from None
    if len(data) < 32:
        raise SealError(f"the board key {path} is too short ({len(data)} bytes); delete it to make a new one "
                        "(records sealed with it then read as unverified) or set " + BOARD_KEY_ENV)
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return board_key(create=False)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key


def _mac(key: bytes, record: dict) -> str:
    note = {k: v for k, v in record["verification"].items() if k != SEAL}
    payload = canonical_json({**record, "verification": note}).encode("utf-8")
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal(record: dict, verification: dict) -> dict:
    """``record`` with ``verification`` (what this board's process proved) sealed by the board key."""
    key = board_key(create=True)
    out = {**record, "verification": {k: v for k, v in verification.items() if k != SEAL}}
    out["verification"][SEAL] = _mac(key, out)
    return out


def sealed(record: dict) -> bool:
    """Whether the record's verification note carries a valid seal by this board's key."""
    note = record.get("verification")
    if not isinstance(note, dict) or not isinstance(note.get(SEAL), str):
        return False
    key = board_key(create=False)
    if key is None:
        return False
    try:
        expected = _mac(key, record)
    except (TypeError, ValueError):  # a record that cannot be serialised canonically
        return False
    return hmac.compare_digest(note[SEAL], expected)


def is_verified(record: dict) -> bool:
    """Whether a board's own process proved the record's provenance: its verification note says so AND
    carries a valid seal by this board's key. A sealed record is exactly what that process wrote after
    its checks; an edit of any byte breaks the seal."""
    note = record.get("verification") if isinstance(record, dict) else None
    return isinstance(note, dict) and note.get("verified") is True and sealed(record)
