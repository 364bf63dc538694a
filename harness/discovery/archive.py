"""The discovery archive: every candidate, in SQLite, so a killed search resumes where it stopped.

One row per candidate. A candidate is inserted as ``pending`` (with its code) before it is sent to
an evaluator, and its result is written in one transaction when the evaluation completes, so after
``kill -9`` the archive holds each completed evaluation exactly once and ``pending`` rows are the
evaluations still owed. Only the controller thread writes; other threads open their own connection.

Candidate statuses: ``pending``, the evaluation statuses of harness.session.STATUSES, and
``duplicate`` (a near-duplicate of ``duplicate_of``, never evaluated) and ``screened`` (stopped by the
cascade's cheap first stage, harness.discovery.cascade: it counts against the budget, its screen
figures are in ``metrics``, and it has no fitness) and ``unmeasured`` (benched without failing, but
the suite's gate metric was not measured, e.g. every seed censored because the policy never reached
the KL budget: no score exists to compare, so it has no fitness and its error says why). Fitness is NULL unless the status is ``ok``: a
failure or a screen figure is never a search score.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from harness.records import now_iso
from harness.sqlite_wal import connect_wal
from harness.status import STATUSES, UNMEASURED

PENDING = "pending"
DUPLICATE = "duplicate"
SCREENED = "screened"
EVALUATION_STATUSES = (*STATUSES, UNMEASURED)  # what an evaluator can complete a candidate with
CANDIDATE_STATUSES = (PENDING, *EVALUATION_STATUSES, DUPLICATE, SCREENED)
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    parent_ids TEXT NOT NULL,
    generation INTEGER NOT NULL,
    proposer TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    code_key TEXT NOT NULL,
    behaviour_key TEXT,
    status TEXT NOT NULL,
    error TEXT,
    fitness REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    meta TEXT NOT NULL DEFAULT '{}',
    cost REAL NOT NULL DEFAULT 0,
    duplicate_of INTEGER,
    eval_seconds REAL,
    created_at TEXT NOT NULL,
    evaluated_at TEXT
);
CREATE INDEX IF NOT EXISTS candidates_code_key ON candidates(code_key);
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Candidate:
    id: int
    parent_ids: tuple[int, ...]
    generation: int
    proposer: str
    name: str
    code: str
    sha256: str
    code_key: str
    status: str
    error: str | None = None
    fitness: float | None = None
    metrics: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    cost: float = 0.0
    behaviour_key: str | None = None
    duplicate_of: int | None = None
    eval_seconds: float | None = None
    created_at: str = ""
    evaluated_at: str | None = None

    @property
    def done(self) -> bool:
        return self.status != PENDING

    def summary(self) -> dict:
        """The line written to candidates.jsonl."""
        return {"id": self.id, "parent_ids": list(self.parent_ids), "sha256": self.sha256,
                "status": self.status, "fitness": self.fitness, "name": self.name,
                "generation": self.generation, "error": self.error, "duplicate_of": self.duplicate_of,
                "stage": self.metrics.get("stage")}


class Archive:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect_wal(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA synchronous=FULL")  # a result the controller reported is on disk
        self._db.executescript(_SCHEMA)
        version = self.get_run("schema_version")
        if version is None:
            self.set_run("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: archive schema {version}, this harness reads {SCHEMA_VERSION}")

    def reader(self) -> Archive:
        """A second connection for another thread (SQLite connections are per thread)."""
        return Archive(self.path)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ run metadata

    def set_run(self, key: str, value) -> None:
        self._db.execute("INSERT OR REPLACE INTO run(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_run(self, key: str, default=None):
        row = self._db.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    # ------------------------------------------------------------ writes (controller only)

    def add(self, *, parent_ids, proposer: str, name: str, code: str, sha256: str, code_key: str,
            meta: dict | None = None, cost: float = 0.0, status: str = PENDING, error: str | None = None,
            duplicate_of: int | None = None) -> int:
        if status not in CANDIDATE_STATUSES:
            raise ValueError(f"unknown candidate status {status!r}")
        if status == "ok":
            raise ValueError("a candidate becomes ok only through complete()")
        parents = [self.get(p) for p in parent_ids]
        generation = 1 + max((p.generation for p in parents), default=-1)
        done_at = None if status == PENDING else now_iso()
        cur = self._db.execute(
            "INSERT INTO candidates(parent_ids, generation, proposer, name, code, sha256, code_key, status,"
            " error, meta, cost, duplicate_of, created_at, evaluated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (json.dumps(list(parent_ids)), generation, proposer, name, code, sha256, code_key, status, error,
             json.dumps(meta or {}), float(cost), duplicate_of, now_iso(), done_at))
        return int(cur.lastrowid)

    def complete(self, cid: int, *, status: str, error: str | None, fitness: float | None, metrics: dict,
                 eval_seconds: float | None = None, behaviour_key: str | None = None) -> bool:
        """Record an evaluation; False (and no change) if the candidate was already completed."""
        if status not in EVALUATION_STATUSES:
            raise ValueError(f"evaluation status {status!r} is not one of {EVALUATION_STATUSES}")
        if status == "ok" and fitness is None:
            raise ValueError(f"candidate {cid}: status ok needs a fitness")
        if status != "ok":
            fitness = None  # failures are never scored
            if not error:
                raise ValueError(f"candidate {cid}: status {status!r} must carry its error text")
        cur = self._db.execute(
            "UPDATE candidates SET status=?, error=?, fitness=?, metrics=?, eval_seconds=?, behaviour_key=?,"
            " evaluated_at=? WHERE id=? AND status=?",
            (status, error, fitness, json.dumps(metrics), eval_seconds, behaviour_key, now_iso(), cid, PENDING))
        return cur.rowcount == 1

    def mark_screened(self, cid: int, *, error: str, metrics: dict, eval_seconds: float | None,
                      behaviour_key: str | None = None) -> bool:
        """A pending candidate the cascade stopped before the full bench (``error`` says why)."""
        if not error:
            raise ValueError(f"candidate {cid}: a screened candidate carries the reason it was stopped")
        cur = self._db.execute(
            "UPDATE candidates SET status=?, error=?, metrics=?, eval_seconds=?, behaviour_key=?, evaluated_at=?"
            " WHERE id=? AND status=?", (SCREENED, error, json.dumps(metrics), eval_seconds, behaviour_key,
                                         now_iso(), cid, PENDING))
        return cur.rowcount == 1

    def mark_duplicate(self, cid: int, *, duplicate_of: int, error: str, behaviour_key: str | None) -> bool:
        """A pending candidate found (by behaviour) to duplicate ``duplicate_of``: never scored."""
        cur = self._db.execute(
            "UPDATE candidates SET status=?, duplicate_of=?, error=?, behaviour_key=?, evaluated_at=?"
            " WHERE id=? AND status=?", (DUPLICATE, duplicate_of, error, behaviour_key, now_iso(), cid, PENDING))
        return cur.rowcount == 1

    # ------------------------------------------------------------ reads

    def get(self, cid: int) -> Candidate:
        row = self._db.execute("SELECT * FROM candidates WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise KeyError(f"no candidate {cid} in {self.path}")
        return _candidate(row)

    def all(self) -> list[Candidate]:
        return [_candidate(r) for r in self._db.execute("SELECT * FROM candidates ORDER BY id")]

    def pending(self) -> list[Candidate]:
        return [_candidate(r) for r in self._db.execute(
            "SELECT * FROM candidates WHERE status = ? ORDER BY id", (PENDING,))]

    def scored(self) -> list[Candidate]:
        """Candidates with a fitness, best first."""
        return [_candidate(r) for r in self._db.execute(
            "SELECT * FROM candidates WHERE status = 'ok' ORDER BY fitness DESC, id")]

    def best(self) -> Candidate | None:
        scored = self.scored()
        return scored[0] if scored else None

    def find_key(self, code_key: str) -> int | None:
        row = self._db.execute("SELECT id FROM candidates WHERE code_key = ? AND status != ? ORDER BY id LIMIT 1",
                               (code_key, DUPLICATE)).fetchone()
        return None if row is None else int(row["id"])

    def find_behaviour(self, behaviour_key: str, exclude: int) -> int | None:
        row = self._db.execute("SELECT id FROM candidates WHERE behaviour_key = ? AND id != ? AND status = 'ok'"
                               " ORDER BY id LIMIT 1", (behaviour_key, exclude)).fetchone()
        return None if row is None else int(row["id"])

    def code_keys(self) -> set[str]:
        return {r["code_key"] for r in self._db.execute("SELECT code_key FROM candidates")}

    def children_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for r in self._db.execute("SELECT parent_ids FROM candidates WHERE status != ?", (DUPLICATE,)):
            for p in json.loads(r["parent_ids"]):
                counts[p] = counts.get(p, 0) + 1
        return counts

    def count(self, *, exclude_duplicates: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM candidates" + (" WHERE status != 'duplicate'" if exclude_duplicates else "")
        return int(self._db.execute(sql).fetchone()[0])

    def total_cost(self) -> float:
        return float(self._db.execute("SELECT COALESCE(SUM(cost), 0) FROM candidates").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._db.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status")}


def _candidate(row: sqlite3.Row) -> Candidate:
    return Candidate(
        id=row["id"], parent_ids=tuple(json.loads(row["parent_ids"])), generation=row["generation"],
        proposer=row["proposer"], name=row["name"], code=row["code"], sha256=row["sha256"],
        code_key=row["code_key"], status=row["status"], error=row["error"], fitness=row["fitness"],
        metrics=json.loads(row["metrics"]), meta=json.loads(row["meta"]), cost=row["cost"],
        behaviour_key=row["behaviour_key"], duplicate_of=row["duplicate_of"],
        eval_seconds=row["eval_seconds"], created_at=row["created_at"], evaluated_at=row["evaluated_at"])
