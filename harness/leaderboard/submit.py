"""The two ways onto a board: benchmark a loss file here, or verify a record produced elsewhere.

Both store the run in the run store (history) and then hand the record to ``publish.submit_record``,
which verifies it and updates the board under its lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.leaderboard.board import RECORDS_DIR
from harness.leaderboard.publish import SubmitOutcome, submit_record
from harness.leaderboard.verify import VerificationError, current_suite_hash
from harness.lossfile import read_loss_file, sha256_bytes
from harness.paths import repo_root
from harness.store import RunStore, StoreError


def default_board_root() -> Path:
    return repo_root() / "leaderboards"


@dataclass(frozen=True)
class SubmitConfig:
    """Where a submission goes and how a loss is benchmarked for it."""

    suite: str = "tiny"  # suite name; the board is <board_root>/<suite>
    board_root: Path | None = None  # folder of boards; None = the repository's leaderboards/
    seeds: int = 3  # training seeds for --loss (the CI is over seeds and prompts)
    backend: str = "auto"  # sandbox backend that runs the untrusted loss file
    progress: bool = True
    store_url: str | None = None  # run store; None = the local SQLite file

    def __post_init__(self):
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")

    @property
    def board_dir(self) -> Path:
        return (self.board_root or default_board_root()) / self.suite


def submit_loss(loss_path: str | Path, cfg: SubmitConfig) -> SubmitOutcome:
    """Benchmark ``loss_path`` on the suite (in the sandbox) unless the board already has it; add it."""
    path, data, _ = read_loss_file(loss_path)
    expected = current_suite_hash(cfg.suite)
    existing = cfg.board_dir / RECORDS_DIR / f"{sha256_bytes(data)}-{expected}.json"
    if existing.exists():  # same file bytes + same suite config: the run would change nothing
        return SubmitOutcome("exists", existing, f"{path.name} is already on the {cfg.suite} board with this suite "
                             "config; nothing was run")
    RunStore(cfg.store_url).close()  # opened first: a store error must not cost a finished run
    from harness.bench import bench_and_store  # imported late: torch and the suite code are heavy

    run = bench_and_store(path, suite=cfg.suite, seeds=cfg.seeds, backend=cfg.backend, progress=cfg.progress,
                          store_url=cfg.store_url)
    if run.store_error:
        raise StoreError(run.store_error)
    return submit_record(cfg.board_dir, run.record, suite=cfg.suite, expected_hash=expected)


def read_submitted_record(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise VerificationError(f"{path}: not a readable JSON record ({e}); pass the record file "
                                "written by `harness bench`") from None


def submit_record_file(path: str | Path, cfg: SubmitConfig) -> SubmitOutcome:
    """Verify the record at ``path`` against the suite's current config and add it (or refuse)."""
    record = read_submitted_record(path)
    outcome = submit_record(cfg.board_dir, record, suite=cfg.suite, expected_hash=current_suite_hash(cfg.suite))
    if outcome.action != "exists":
        RunStore(cfg.store_url).add(record)
    return outcome


def record_suite(path: str | Path) -> str:
    """The suite a record says it was run on (the board it is meant for)."""
    suite = read_submitted_record(path).get("suite")
    if not isinstance(suite, dict) or not isinstance(suite.get("name"), str):
        raise VerificationError(f"{path}: record has no suite.name; it is not a `harness bench` record")
    return suite["name"]
