"""Open a SQLite file in WAL mode, safely while other processes or threads have it open.

Switching a database to WAL needs an exclusive lock for a moment, and SQLite answers that request
with ``database is locked`` at once, without waiting on the busy timeout, when another connection
is reading or writing. WAL mode is stored in the file, so only the first opener must switch it:
every later opener finds ``wal`` already set and skips the switch. The switch is retried with a
short back-off until ``timeout`` seconds have passed.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(path: Path, *, timeout: float = 30.0, **kwargs) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode.

    Raises ``sqlite3.OperationalError`` when the file stays locked for ``timeout`` seconds.
    """
    db = sqlite3.connect(path, timeout=timeout, **kwargs)
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        try:
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer of another run
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                db.close()
                raise
            if time.monotonic() >= deadline:
                db.close()
                raise sqlite3.OperationalError(
                    f"{path}: still locked after {timeout:.0f} s while switching to WAL mode; "
                    "another process holds it (stop it, or wait and run again)") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
