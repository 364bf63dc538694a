"""The run store: every bench run's record, kept so that history is queryable (`harness runs`).

SQLite under ``harness_home()`` by default; any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``)
lets a team share one store. The full record is kept verbatim as JSON; a few columns are copied out
of it only so that listing and filtering need no JSON parsing in the database.

Evidence: each run says whether it is ``verified``: run by this harness (bench, submit --loss,
discovery), or a record made elsewhere that a board verified (True); a record made elsewhere that was
not (False); stored before the column existed (NULL: unknown, so not evidence). ``list`` leaves the
unverified out unless asked (``harness runs --include-unverified`` lists them, labelled).

Creation is safe under concurrent first opens: for a SQLite file, processes creating the schema take
turns on a lock file beside it; on a server database a racing "already exists" is retried.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Boolean, Float, Integer, String, Text, create_engine, func, inspect, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from harness.paths import harness_home
from harness.records import canonical_json, validate_record
from harness.specs import SpecError, read_record_file, run_id
from harness.text import csv_cell


class StoreError(LookupError):
    """A run is not in the store, or the store cannot be opened; the message says which and why."""


class RunNotFound(StoreError):
    """No run has the asked-for id."""


class _Base(DeclarativeBase):
    pass


class _Run(_Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    loss_name: Mapped[str] = mapped_column(String(200), index=True)
    loss_sha256: Mapped[str] = mapped_column(String(64), index=True)
    suite_name: Mapped[str] = mapped_column(String(100), index=True)
    suite_config_hash: Mapped[str] = mapped_column(String(64))
    n_seeds: Mapped[int] = mapped_column(Integer)
    win_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    win_rate_lo: Mapped[float | None] = mapped_column(Float, nullable=True)
    win_rate_hi: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    record_json: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # see the module doc


@dataclass(frozen=True)
class RunSummary:
    """One row of `harness runs`: what a listing needs, without the full record."""

    id: int
    created_at: str
    status: str
    loss_name: str
    loss_sha256: str
    suite: str
    config_hash: str
    seeds: int
    win_rate: float | None
    win_rate_ci: tuple[float, float] | None
    error: str | None
    verified: bool | None = None  # None: stored before verification was recorded (not evidence)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["win_rate_ci"] = list(self.win_rate_ci) if self.win_rate_ci else None
        return d


def default_url() -> str:
    home = harness_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'runs.sqlite'}"


class RunStore:
    """Add, list and fetch run records. ``url`` is any SQLAlchemy URL; None = the local SQLite file."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        try:
            self._engine = create_engine(self.url, **_engine_options(self.url))
            with _creation_lock(self.url):
                _create_schema(self._engine)
        except Exception as e:  # driver missing, bad URL, unreachable server: all unusable stores
            raise StoreError(f"cannot open the run store {self.url!r}: {e}. Pass a valid SQLAlchemy URL.") from e

    def add(self, record: dict, *, verified: bool = True) -> int:
        """Store a record (schema-checked first) and return its run id. ``verified``: True for a run this
        harness made (the default: bench, discovery), else what a board proved about a record made
        elsewhere. Adding the same record again returns the existing id (marked verified if it now is)."""
        validate_record(record)
        text = canonical_json(record)
        m = record["metrics"] if record["status"] == "ok" else {}
        ci = m.get("win_rate_ci") or (None, None)
        row = _Run(
            created_at=record["created_at"], status=record["status"], loss_name=record["loss"]["name"],
            loss_sha256=record["loss"]["sha256"], suite_name=record["suite"]["name"],
            suite_config_hash=record["suite"]["config_hash"], n_seeds=len(record["seeds"]),
            win_rate=m.get("win_rate"), win_rate_lo=ci[0], win_rate_hi=ci[1], error=record.get("error"),
            record_json=text, verified=bool(verified),
        )
        with Session(self._engine) as session, session.begin():
            same = session.scalar(select(_Run).where(_Run.loss_sha256 == row.loss_sha256,
                                                     _Run.created_at == row.created_at, _Run.record_json == text))
            if same is not None:
                same.verified = bool(same.verified) or bool(verified)
                return same.id
            session.add(row)
            session.flush()
            return row.id

    def list(self, suite: str | None = None, loss: str | None = None, status: str | None = None,
             limit: int | None = None, include_unverified: bool = False) -> list[RunSummary]:
        """Newest first. ``loss`` matches a loss name exactly or a sha256 prefix. Unverified runs (and
        those of unknown provenance) only with ``include_unverified``."""
        query = select(_Run).order_by(_Run.created_at.desc(), _Run.id.desc())
        if not include_unverified:
            query = query.where(_Run.verified.is_(True))
        if suite:
            query = query.where(_Run.suite_name == suite)
        if status:
            query = query.where(_Run.status == status)
        if loss:
            query = query.where(or_(_Run.loss_name == loss, _Run.loss_sha256.startswith(loss.lower(), autoescape=True)))
        if limit is not None:
            query = query.limit(limit)
        with Session(self._engine) as session:
            return [_summary(row) for row in session.scalars(query)]

    def hidden(self) -> int:
        """How many stored runs ``list`` leaves out by default (unverified or of unknown provenance)."""
        with Session(self._engine) as session:
            return session.scalar(select(func.count()).select_from(_Run).where(or_(_Run.verified.is_(None),
                                                                                   _Run.verified.is_(False))))

    def get(self, run_id: int) -> dict:
        """The full record of run ``run_id``."""
        with Session(self._engine) as session:
            row = session.get(_Run, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id} in {self.url}; `harness runs` lists the ids")
            return json.loads(row.record_json)

    def verified(self, run_id: int) -> bool | None:
        """Whether run ``run_id`` is evidence (see the module doc); None for a run stored before that was kept."""
        with Session(self._engine) as session:
            row = session.get(_Run, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id} in {self.url}; `harness runs` lists the ids")
            return row.verified

    def close(self) -> None:
        self._engine.dispose()


def _summary(row: _Run) -> RunSummary:
    ci = (row.win_rate_lo, row.win_rate_hi) if row.win_rate_lo is not None else None
    return RunSummary(row.id, row.created_at, row.status, row.loss_name, row.loss_sha256, row.suite_name,
                      row.suite_config_hash, row.n_seeds, row.win_rate, ci, row.error, row.verified)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _engine_options(url: str) -> dict:
    # SQLite: wait for a writer holding the database instead of failing at once ("database is locked")
    return {"connect_args": {"timeout": 60}} if _sqlite_file(url) is not None else {}


@contextlib.contextmanager
def _creation_lock(url: str):
    """For a SQLite file: an exclusive lock on ``<file>.lock`` while the schema is made, so concurrent
    first opens take turns (SQLite's "CREATE TABLE" after a "does it exist?" check is not atomic
    across processes: "table runs already exists"). Server databases: nothing (see _create_schema)."""
    path = _sqlite_file(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _create_schema(engine, attempts: int = 5) -> None:
    """Create the table (and add the ``verified`` column to a store made before it), retrying when
    another process made them first."""
    for attempt in range(attempts):
        try:
            _Base.metadata.create_all(engine)
            if "verified" not in {c["name"] for c in inspect(engine).get_columns("runs")}:
                with engine.begin() as con:
                    con.execute(text("ALTER TABLE runs ADD COLUMN verified BOOLEAN"))
            return
        except (OperationalError, ProgrammingError) as e:
            message = str(e).lower()
            if attempt == attempts - 1 or not ("already exists" in message or "duplicate column" in message):
                raise
            time.sleep(0.05 * (attempt + 1))


def record_of(spec: str, url: str | None = None) -> tuple[dict, str] | None:
    """(record, where it came from) for an existing record file or a stored run id (harness.specs); None
    when ``spec`` names neither (it may name a loss or a board entry). SpecError for an unreadable file or
    an id the store does not hold. ``run_side`` adds whether the run is evidence (for ``compare``)."""
    path = Path(spec)
    if path.is_file():
        return None if path.suffix == ".py" else (read_record_file(path), str(path))
    number = run_id(spec)
    if number is None:
        return None
    try:
        store = RunStore(url)
        try:
            return store.get(number), f"run {number} ({store.url})"
        finally:
            store.close()
    except RunNotFound:
        raise SpecError(f"no run {number} in the run store (`harness runs` lists them), and no file {spec!r}") from None
    except StoreError as e:
        raise SpecError(f"run {number}: {e}") from None


def run_side(spec: str, url: str | None = None) -> tuple[dict, str, bool] | None:
    """``record_of`` for a stored run id, with whether the store holds it as verified (harness.comparison's
    lookup); None for anything else (record files are read by the comparison itself)."""
    number = run_id(spec)
    if number is None or Path(spec).exists():
        return None
    record, source = record_of(spec, url)
    store = RunStore(url)
    try:
        return record, source, store.verified(number) is True
    finally:
        store.close()


# -- the run table for pandas (``harness runs --format csv|parquet``): win rates as shares in [0, 1], as in
# leaderboard.csv, the records and every --json output ----------------------------------------------------
TABLE_COLUMNS = ("id", "created_at", "status", "loss", "sha256", "suite", "config_hash", "seeds", "win_rate",
                 "win_rate_ci_low", "win_rate_ci_high", "verified", "error")


def table_rows(runs: list[RunSummary]) -> list[dict]:
    out = []
    for r in runs:
        low, high = r.win_rate_ci or (None, None)
        out.append({"id": r.id, "created_at": r.created_at, "status": r.status, "loss": r.loss_name,
                    "sha256": r.loss_sha256, "suite": r.suite, "config_hash": r.config_hash, "seeds": r.seeds,
                    "win_rate": r.win_rate, "win_rate_ci_low": low, "win_rate_ci_high": high,
                    "verified": r.verified, "error": r.error})
    return out


def runs_csv(runs: list[RunSummary]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table_rows(runs):
        writer.writerow({k: "" if v is None else csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def runs_parquet(runs: list[RunSummary], path: Path) -> Path:
    """Write the table with pandas + pyarrow; ImportError names the extra when they are missing."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError as e:
        raise ImportError(f"--format parquet needs pandas and pyarrow: pip install 'harness[parquet]' ({e})") from None
    frame = pd.DataFrame(table_rows(runs), columns=list(TABLE_COLUMNS))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path
