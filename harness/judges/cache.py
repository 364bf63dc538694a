"""The persistent judgment cache (SQLite): re-runs are free and a killed run resumes.

One row per judge call, keyed by sha256 of (judge hash, call kind, prompt, answers in the order they
were shown, reference-guide[, method]). Each row is committed as soon as its call returns, so a run
killed at any point keeps every judgment it paid for; the primary key makes a second write of the
same key a no-op, so resuming (or two runs racing) never duplicates one.

What is final is the caller's rule (harness.judges.llm): only a parsed verdict made by the judge's
own method is served again. Unparseable answers are stored for audits but asked again on the next
run, and a later verdict replaces them (``put(..., replace=True)``); failed calls are not stored. A
new judge version (new hash) starts fresh.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from harness.paths import harness_home
from harness.sqlite_wal import connect_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    judge_id TEXT NOT NULL,
    judge_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    return harness_home() / "judgments.sqlite"


def cache_key(judge_hash: str, kind: str, *parts: str) -> str:
    """Length-prefixed so that no two different part lists can collide by concatenation."""
    h = hashlib.sha256()
    for part in (judge_hash, kind, *parts):
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class JudgmentCache:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one connection, used only from the thread that created it (judge workers hand their
        # results back to the main thread, which writes them)
        self._db = connect_wal(self.path, timeout=30.0)  # readers never block the writer of another run
        # in WAL mode NORMAL survives a killed process (only a power cut can drop the latest commits),
        # and spares one fsync per judgment
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, result in self._db.execute(f"SELECT key, result FROM judgments WHERE key IN ({marks})", chunk):
                found[key] = json.loads(result)
        return found

    def put(self, key: str, judge_id: str, judge_hash: str, result: dict, *, replace: bool = False) -> None:
        """Store ``result`` under ``key``; an existing row is kept unless ``replace`` (a final
        verdict taking the place of a row the caller found not final)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._db:  # commits now: a kill after this line loses nothing
            self._db.execute(f"{verb} INTO judgments VALUES (?, ?, ?, ?, ?)",
                             (key, judge_id, judge_hash, json.dumps(result, sort_keys=True), time.time()))

    def count(self, judge_hash: str | None = None) -> int:
        if judge_hash is None:
            return self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM judgments WHERE judge_hash = ?", (judge_hash,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
