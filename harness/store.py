"""The run store: every bench run's record, kept so that history is queryable (`harness runs`).

SQLite under ``harness_home()`` by default; any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``)
lets a team share one store. The full record is kept verbatim as JSON; a few columns are copied out
of it only so that listing and filtering need no JSON parsing in the database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from sqlalchemy import Float, Integer, String, Text, create_engine, or_, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from harness.paths import harness_home
from harness.records import canonical_json, validate_record


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
            self._engine = create_engine(self.url)
            _Base.metadata.create_all(self._engine)
        except Exception as e:  # driver missing, bad URL, unreachable server: all unusable stores
            raise StoreError(f"cannot open the run store {self.url!r}: {e}. Pass a valid SQLAlchemy URL.") from e

    def add(self, record: dict) -> int:
        """Store a record (schema-checked first) and return its run id. Adding the same record again
        (e.g. `harness submit --record` of a run already stored) returns the existing id."""
        validate_record(record)
        text = canonical_json(record)
        m = record["metrics"] if record["status"] == "ok" else {}
        ci = m.get("win_rate_ci") or (None, None)
        row = _Run(
            created_at=record["created_at"], status=record["status"], loss_name=record["loss"]["name"],
            loss_sha256=record["loss"]["sha256"], suite_name=record["suite"]["name"],
            suite_config_hash=record["suite"]["config_hash"], n_seeds=len(record["seeds"]),
            win_rate=m.get("win_rate"), win_rate_lo=ci[0], win_rate_hi=ci[1], error=record.get("error"),
            record_json=text,
        )
        with Session(self._engine) as session, session.begin():
            same = session.scalar(select(_Run.id).where(_Run.loss_sha256 == row.loss_sha256,
                                                        _Run.created_at == row.created_at, _Run.record_json == text))
            if same is not None:
                return same
            session.add(row)
            session.flush()
            return row.id

    def list(self, suite: str | None = None, loss: str | None = None, status: str | None = None,
             limit: int | None = None) -> list[RunSummary]:
        """Newest first. ``loss`` matches a loss name exactly or a sha256 prefix."""
        query = select(_Run).order_by(_Run.created_at.desc(), _Run.id.desc())
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

    def get(self, run_id: int) -> dict:
        """The full record of run ``run_id``."""
        with Session(self._engine) as session:
            row = session.get(_Run, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id} in {self.url}; `harness runs` lists the ids")
            return json.loads(row.record_json)

    def close(self) -> None:
        self._engine.dispose()


def _summary(row: _Run) -> RunSummary:
    ci = (row.win_rate_lo, row.win_rate_hi) if row.win_rate_lo is not None else None
    return RunSummary(row.id, row.created_at, row.status, row.loss_name, row.loss_sha256, row.suite_name,
                      row.suite_config_hash, row.n_seeds, row.win_rate, ci, row.error)
