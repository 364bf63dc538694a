"""Per-session cgroups: the thread cap, the memory cap and the CPU share that rlimits cannot give.

pids: RLIMIT_NPROC is not enforced for a jail started by root, and seccomp cannot count, so a loss
could start threads until the host runs out of process ids. memory: RLIMIT_AS bounds only the
worker's address space; memory it makes the kernel hold for it outside that space (tmpfs pages,
pipe buffers, page cache) is charged to its memory cgroup, which ``memory.limit_in_bytes`` (v1) or
``memory.max`` (v2) caps at ``SandboxLimits.memory_bytes``, swap included. cpu: RLIMIT_CPU bounds CPU seconds, not cores; a loss that starts 8 torch threads took 1.70
of 2 cores (issue 29 item 8), so the session's ``cpu.cfs_quota_us`` (v1) or ``cpu.max`` (v2) caps it
at ``SandboxLimits.cores`` (``cpu_cores``, else ``threads``), whatever threads it starts. When the harness runs as
root and a controller is writable (cgroup v1 ``/sys/fs/cgroup/<controller>`` or a v2 hierarchy that
offers it) each session gets its own cgroup there; the jail's first process joins them before it
execs bubblewrap, so every task of the worker counts. Without them (unprivileged harness, no
controller) RLIMIT_NPROC caps threads, and memory outside the address space is bounded only by the
paths the jail closes (read-only /dev, no IPC or memfd system calls, a size-capped /tmp): see the
threat model in harness/sandbox/__init__.py.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

V1, V2 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup")


def _root(controller: str) -> Path | None:
    """The writable hierarchy that offers ``controller`` (cgroup v1 or v2), if any."""
    v1 = V1 / controller
    if (v1 / "cgroup.procs").exists():
        return v1 if os.access(v1, os.W_OK) else None
    control = V2 / "cgroup.subtree_control"
    try:
        offered = control.read_text().split()
    except OSError:
        return None
    return V2 if controller in offered and os.access(V2, os.W_OK) else None


CPU_PERIOD_US = 100_000  # the scheduler's accounting period; the quota is cores x this


def _settings(root: Path, controller: str, limit: float) -> list[tuple[str, str]]:
    if controller == "pids":
        return [("pids.max", str(limit))]
    if controller == "cpu":
        quota = str(int(limit * CPU_PERIOD_US))
        if root == V2:
            return [("cpu.max", f"{quota} {CPU_PERIOD_US}")]
        return [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", quota)]
    if root == V2:
        return [("memory.max", str(limit)), ("memory.swap.max", "0")]
    return [("memory.limit_in_bytes", str(limit)), ("memory.memsw.limit_in_bytes", str(limit))]


class SessionCgroups:
    """Fresh cgroups, one per hierarchy, with ``limits`` ({controller: value}) applied.

    ``procs`` are the files a process writes its pid to; ``controllers`` those that were applied."""

    def __init__(self, limits: dict[str, float]):
        self.dirs: list[Path] = []
        self.controllers: list[str] = []
        name = f"harness-sandbox-{uuid.uuid4().hex[:12]}"
        try:
            for controller, limit in limits.items():
                root = _root(controller)
                if root is None:
                    continue
                path = root / name
                if path not in self.dirs:
                    path.mkdir()
                    self.dirs.append(path)
                for file, value in _settings(root, controller, limit):
                    target = path / file
                    if target.exists():  # memsw / swap files exist only with swap accounting
                        target.write_text(value)
                self.controllers.append(controller)
        except OSError:
            self.remove()
            raise
        self.procs = [d / "cgroup.procs" for d in self.dirs]

    def oom_killed(self) -> bool:
        """Whether the memory cgroup killed a task (v1 ``memory.oom_control``, v2 ``memory.events``)."""
        for d in self.dirs:
            for file in ("memory.events", "memory.oom_control"):
                try:
                    lines = (d / file).read_text().splitlines()
                except OSError:
                    continue
                for line in lines:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                        return True
        return False

    def remove(self, timeout: float = 10.0) -> None:
        """Kill whatever is left in the cgroups (the jail's inner processes exit after its outer one),
        then remove them; a cgroup can only be removed once it is empty."""
        for d in self.dirs:
            _empty_and_remove(d, time.monotonic() + timeout)
        self.dirs = []


def _empty_and_remove(path: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            tasks = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return
        for pid in tasks:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"could not remove {path}: tasks still running")


def create(processes: int, memory_bytes: int, cpus: float | None = None) -> SessionCgroups | None:
    """Capped cgroups when this process is root and may create them, else None (rlimits apply);
    ``cpus``: the CPU share in cores (None: not capped)."""
    if os.geteuid() != 0:
        return None
    try:
        groups = SessionCgroups({"pids": processes, "memory": memory_bytes, **({"cpu": cpus} if cpus else {})})
    except OSError:
        return None
    return groups if groups.dirs else None


def guard_kind() -> str:
    """How thread and process counts are capped for a jail started now: cgroup, rlimit or none."""
    if os.geteuid() != 0:
        return "rlimit"
    return "cgroup" if _root("pids") is not None else "none"


def memory_guard() -> bool:
    """Whether a jail started now gets a memory cgroup."""
    return os.geteuid() == 0 and _root("memory") is not None


def cpu_guard() -> bool:
    """Whether a jail started now gets a CPU quota (a cpu cgroup capped at its cores)."""
    return os.geteuid() == 0 and _root("cpu") is not None
