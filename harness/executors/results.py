"""One validator for what comes out of a job container: bench (``--executor docker``) and discovery.

A container's output folder is written by code that ran next to an untrusted loss, so nothing in it is
believed until checked here, the same way for both callers:

- ``check_claims``: the run is of the suite config, seeds, judge and beta that were asked for;
- ``check_record``: a bench record (discovery's container evaluation) passes every check a board makes
  on load (schema, strict field types and size caps, aggregates recomputed from its per-seed and
  per-prompt data: harness.leaderboard) and ``check_claims``; the fitness is then read from it here;
- ``job_file``: a path the container names (``/out/...``) is a regular file inside the job's own
  output folder on this host (resolved, then checked for containment; never a symbolic link).

A violation is a ``JobResultError`` naming the field; callers make it the candidate's failure
(discovery) or a harness fault with the job outputs kept (bench), never a score.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path


class JobResultError(ValueError):
    """A container's result contradicts what was asked for, or breaks the job contract."""


@dataclass(frozen=True)
class Expected:
    """What a job was asked to run: the suite (name, config hash, judge), the seeds and beta."""

    suite: str
    config_hash: str
    seeds: tuple[int, ...]
    judge: str
    beta: float | None = None

    @classmethod
    def of(cls, suite_obj, seeds, beta: float | None = None) -> Expected:
        return cls(suite_obj.name, suite_obj.config_hash(), tuple(seeds), str(suite_obj.config.judge), beta)


def check_suite(expected: Expected, *, suite, config_hash, where: str = "the job") -> None:
    """Raise JobResultError unless the claimed suite and config hash are the expected ones."""
    if suite != expected.suite or config_hash != expected.config_hash:
        raise JobResultError(f"{where} reports suite {str(suite)[:60]!r} config {str(config_hash)[:20]!r}, not "
                             f"{expected.suite!r} {expected.config_hash} (a job image of another checkout? rebuild "
                             "it: scripts/job_image.sh)")


def check_claims(expected: Expected, *, suite, config_hash, seeds, judge, beta=None, where: str = "the job") -> None:
    """Raise JobResultError unless the claimed suite, config hash, seeds, judge (and beta, when both
    are given) are the expected ones."""
    check_suite(expected, suite=suite, config_hash=config_hash, where=where)
    if not isinstance(seeds, list | tuple) or tuple(seeds) != expected.seeds:
        raise JobResultError(f"{where} reports seeds {str(seeds)[:80]}, not the seeds asked for {list(expected.seeds)}")
    if judge != expected.judge:
        raise JobResultError(f"{where} reports judge {str(judge)[:60]!r}, not the suite's {expected.judge!r}")
    if expected.beta is not None and beta is not None and (
            isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isclose(float(beta), expected.beta)):
        raise JobResultError(f"{where} reports beta {str(beta)[:20]}, not {expected.beta}")


def check_record(record, expected: Expected, where: str = "the job's record") -> dict:
    """``record`` when it is a bench record that passes a board's checks on load and ``check_claims``."""
    from harness.leaderboard.proof import ProofError, check_aggregates
    from harness.leaderboard.verify import VerificationError, verify_integrity

    if not isinstance(record, dict):
        raise JobResultError(f"{where} is not a JSON object")
    try:
        verify_integrity(record, expected.suite)
        if record["status"] == "ok":
            check_aggregates(record)
    except (VerificationError, ProofError) as e:
        raise JobResultError(f"{where}: {e}") from None
    except (TypeError, KeyError, ValueError, IndexError, AttributeError) as e:
        raise JobResultError(f"{where} cannot be checked ({type(e).__name__}: {str(e)[:200]})") from None
    check_claims(expected, suite=record["suite"]["name"], config_hash=record["suite"]["config_hash"],
                 seeds=record["seeds"], judge=record["judge"].get("id"), beta=record["beta"], where=where)
    return record


def job_file(folder: Path, claimed, mount: str = "/out", limit: int = 4 << 20) -> Path:
    """The host path of the file the container calls ``claimed`` (under ``mount``), inside ``folder``
    (the job's output folder): resolved, contained, a regular file of at most ``limit`` bytes."""
    if not isinstance(claimed, str) or not claimed.startswith(mount + "/") or "\x00" in claimed:
        raise JobResultError(f"the job names the file {str(claimed)[:120]!r}, not one under {mount}/")
    root = Path(folder).resolve()
    path = (root / claimed[len(mount) + 1:]).resolve()
    if root not in path.parents:
        raise JobResultError(f"the job names {claimed[:120]!r}, which resolves outside its output folder")
    try:
        info = os.lstat(path)
    except OSError:
        raise JobResultError(f"the job names {claimed[:120]!r}, which does not exist") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        raise JobResultError(f"the job names {claimed[:120]!r}, which is not a regular file of at most {limit} bytes")
    return path
