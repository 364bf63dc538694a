"""A board: the verified records of one suite, aggregated into entries and ranked with uncertainty.

Each ok record is one entry; its win rate and CI are the record's own (aggregated over seeds and
prompts by the bench). Ranks follow Chatbot Arena's rank upper bound: an entry's rank is 1 + the
number of entries whose CI lies entirely above its CI, so entries whose CIs overlap share a rank.
Failed runs are kept for honesty and listed separately; they are never ranked, and neither is a
loss whose record carries a failed behaviour check. Only verified records are ranked (their provenance
is proven, see harness.leaderboard.proof); unverified ones are listed apart. Records run on an
older suite config ("stale") are listed, not ranked: their numbers are not comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.leaderboard.verify import VerificationError, record_filename, verify_integrity

RECORDS_DIR = "records"
FAILED_DIR = "failed"


class BoardError(RuntimeError):
    """A board directory holds something it must not (a tampered or misnamed record)."""


@dataclass(frozen=True)
class Entry:
    """One ranked loss: the record's headline numbers plus what the page shows on click."""

    name: str
    sha256: str
    win_rate: float
    win_rate_ci: tuple[float, float]
    seeds: int
    created_at: str
    record_file: str  # relative to the board directory
    source: str
    reward: float | None = None
    kl: float | None = None
    harness_version: str = ""
    git_revision: str | None = None
    judge_id: str = ""
    # the matched-KL protocol: win rate where KL first reaches kl_budget; seeds that never reach it
    # are scored at their last checkpoint and counted as censored
    kl_budget: float | None = None
    censored_seeds: int = 0
    seed_win_rates: tuple[tuple[int, float], ...] = ()  # (seed, that seed's win rate)
    # per seed, the (step, kl, reward) points of the training trajectory (for the frontier plot)
    trajectories: tuple[tuple[tuple[float, float, float], ...], ...] = ()
    rank: int = 0
    verified: bool = False  # provenance proven (run here, signed by a trusted runner, or a seed re-run)


@dataclass(frozen=True)
class FailedRun:
    name: str
    sha256: str
    status: str
    error: str
    created_at: str
    record_file: str
    source: str = ""


@dataclass(frozen=True)
class Board:
    suite: str
    config_hash: str
    entries: tuple[Entry, ...]  # ranked, best first
    failed: tuple[FailedRun, ...] = ()
    stale: tuple[Entry, ...] = ()
    config: dict = field(default_factory=dict)
    unverified: tuple[Entry, ...] = ()  # current suite config, provenance not proven: listed, not ranked

    @property
    def measures_kl(self) -> bool:
        return any(t for e in self.entries for t in e.trajectories)

    @property
    def kl_budget(self) -> float | None:
        return next((e.kl_budget for e in self.entries if e.kl_budget is not None), None)


def uncertainty_ranks(cis: list[tuple[float, float]]) -> list[int]:
    """Rank upper bound per entry: 1 + #entries whose CI lower bound exceeds this CI's upper bound."""
    return [1 + sum(1 for lo_j, _ in cis if lo_j > hi_i) for _, hi_i in cis]


def _trajectories(record: dict) -> tuple:
    out = []
    for seed in record["per_seed"]:
        points = tuple((float(p["step"]), float(p["kl"]), float(p["reward"]))
                       for p in seed.get("trajectory") or ()
                       if p.get("kl") is not None and p.get("reward") is not None)
        if points:
            out.append(points)
    return tuple(out)


def _entry(record: dict, relpath: str) -> Entry:
    m, prov = record["metrics"], record["provenance"]
    lo, hi = m["win_rate_ci"]
    return Entry(
        name=record["loss"]["name"], sha256=record["loss"]["sha256"], win_rate=float(m["win_rate"]),
        win_rate_ci=(float(lo), float(hi)), seeds=len(record["seeds"]), created_at=record["created_at"],
        record_file=relpath, source=record["loss"]["source"], reward=m.get("reward"), kl=m.get("kl"),
        harness_version=str(prov.get("harness_version", "")), git_revision=prov.get("git_revision"),
        judge_id=str(record["judge"].get("id", "")), trajectories=_trajectories(record),
        kl_budget=m.get("kl_budget"), censored_seeds=_censored(m), verified=is_verified(record),
        seed_win_rates=tuple((s["seed"], float(s["win_rate"])) for s in record["per_seed"] if "win_rate" in s),
    )


def is_verified(record: dict) -> bool:
    """The board's own note on a record's provenance (``publish.submit_record`` writes it)."""
    note = record.get("verification")
    return isinstance(note, dict) and note.get("verified") is True


def check_failure(record: dict) -> str | None:
    """The error of a failed behaviour check (``harness check``) carried by the record, else None."""
    check = record.get("check")
    if isinstance(check, dict) and check.get("valid") is False:
        errors = check.get("errors") or ["the loss fails `harness check`"]
        return "harness check: " + "; ".join(str(e) for e in errors)
    return None


def _censored(metrics: dict) -> int:
    if "censored_seeds" in metrics:
        return int(metrics["censored_seeds"])
    return int(bool(metrics.get("censored")))


def _failed(record: dict, relpath: str) -> FailedRun:
    return FailedRun(record["loss"]["name"], record["loss"]["sha256"], record["status"],
                     str(record["error"]), record["created_at"], relpath, record["loss"]["source"])


def build_board(suite: str, expected_hash: str, records: list[tuple[str, dict]], config: dict | None = None) -> Board:
    """Rank ``records`` ([(path relative to the board dir, record)]) for suite ``suite``."""
    current, stale, failed, unverified = [], [], [], []
    for relpath, record in records:
        try:
            verify_integrity(record, suite)
        except VerificationError as e:
            raise BoardError(f"{relpath}: {e}. Remove the file (boards are rebuilt from records).") from None
        if Path(relpath).name != record_filename(record):
            raise BoardError(f"{relpath}: a record's file is named {record_filename(record)}; "
                             "it was renamed or edited by hand. Re-submit it with `harness submit --record`.")
        if record["status"] != "ok":
            failed.append(_failed(record, relpath))
        elif check_failure(record):  # never ranked, whatever its numbers
            failed.append(FailedRun(record["loss"]["name"], record["loss"]["sha256"], "invalid",
                                    check_failure(record), record["created_at"], relpath, record["loss"]["source"]))
        elif record["suite"]["config_hash"] == expected_hash:
            (current if is_verified(record) else unverified).append(_entry(record, relpath))
            config = config or record["suite"]["config"]
        else:
            stale.append(_entry(record, relpath))
    ranks = uncertainty_ranks([e.win_rate_ci for e in current])
    ranked = [Entry(**{**e.__dict__, "rank": r}) for e, r in zip(current, ranks, strict=True)]
    ranked.sort(key=lambda e: (e.rank, -e.win_rate, e.name, e.sha256))
    failed.sort(key=lambda f: (f.created_at, f.name))
    stale.sort(key=lambda e: (-e.win_rate, e.name))
    unverified.sort(key=lambda e: (-e.win_rate, e.name))
    return Board(suite, expected_hash, tuple(ranked), tuple(failed), tuple(stale), config or {}, tuple(unverified))


def read_board_records(board_dir: Path) -> list[tuple[str, dict]]:
    """Every record file of a board, as (relative path, record); temp files are not records."""
    out = []
    for sub in (RECORDS_DIR, FAILED_DIR):
        for path in sorted((board_dir / sub).glob("*.json")):
            try:
                out.append((f"{sub}/{path.name}", json.loads(path.read_text())))
            except (OSError, json.JSONDecodeError) as e:
                raise BoardError(f"{path}: not a readable JSON record ({e}); remove it and re-submit") from None
    return out


def load_board(board_dir: str | Path, suite: str, expected_hash: str) -> Board:
    return build_board(suite, expected_hash, read_board_records(Path(board_dir)))
