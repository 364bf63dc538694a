"""A pids cgroup per jailed session: the thread and process cap that RLIMIT_NPROC cannot give root.

RLIMIT_NPROC is not enforced for a jail started by root, and seccomp cannot count, so a loss could
start threads until the host runs out of process ids (pid_max is 32768 on many machines). When the
harness runs as root and the pids controller is writable (cgroup v1 ``/sys/fs/cgroup/pids`` or a
v2 hierarchy that offers ``pids``), each session gets its own cgroup with ``pids.max`` =
``SandboxLimits.processes``; the jail's first process joins it before it execs bubblewrap, so every
thread of the worker counts. Unprivileged harnesses are covered by RLIMIT_NPROC instead.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path


def _pids_root() -> Path | None:
    """The writable hierarchy that offers the pids controller (cgroup v1 or v2), if any."""
    v1, v2 = Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")
    if (v1 / "cgroup.procs").exists():
        return v1 if os.access(v1, os.W_OK) else None
    control = v2 / "cgroup.subtree_control"
    if control.exists() and "pids" in control.read_text().split() and os.access(v2, os.W_OK):
        return v2
    return None


class PidsCgroup:
    """A fresh cgroup capped at ``limit`` tasks; ``procs`` is the file a process writes its pid to."""

    def __init__(self, root: Path, limit: int):
        self.path = root / f"harness-sandbox-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))
        self.procs = self.path / "cgroup.procs"

    def remove(self, timeout: float = 10.0) -> None:
        """Kill whatever is left in the cgroup (the jail's inner processes exit after its outer one),
        then remove it; a cgroup can only be removed once it is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                tasks = [int(p) for p in self.procs.read_text().split()]
            except OSError:
                return
            for pid in tasks:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"could not remove {self.path}: tasks still running after {timeout} s")


def create(limit: int) -> PidsCgroup | None:
    """A capped cgroup when this process is root and may create one, else None (RLIMIT_NPROC applies)."""
    if os.geteuid() != 0:
        return None
    root = _pids_root()
    if root is None:
        return None
    try:
        return PidsCgroup(root, limit)
    except OSError:
        return None


def guard_kind() -> str:
    """How thread and process counts are capped for a jail started now: cgroup, rlimit or none."""
    if os.geteuid() != 0:
        return "rlimit"
    return "cgroup" if _pids_root() is not None else "none"
