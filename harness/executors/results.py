"""One validator for what comes out of a job container: bench (``--executor docker``) and discovery.

A container's output folder is written by code that ran next to an untrusted loss, so nothing in it is
believed until checked here, the same way for both callers:

- ``check_suite`` and ``check_claims``: the run is of the suite config, seeds, judge and beta that were
  asked for (the bench path on each job's result and on the pooled seeds; discovery on the record its
  container wrote, after a board's own checks on load: harness.discovery.containers.check_record);
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
