"""Process-level settings for the training processes (bench, submit, discovery workers, suite builds).

Why the allocator matters: every training step allocates and frees the same few large activation and
gradient buffers. glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and returns
them with ``munmap``, so each step pays millions of page faults (measured on the tiny suite: 5.1 M
minor faults and 13.7 s of system time in a 3-seed bench, 20% of its wall time). Raising the mmap
and trim thresholds keeps freed blocks in the heap for reuse. Numerics are unchanged (the same
record, bit for bit); resident memory grows (760 MB -> 1.1 GB on that run).

Why the garbage collector matters: a training step creates thousands of short-lived Python objects
(autograd nodes, tensors, TRL's metric lists), so the default generation-0 threshold (700) triggers
a collection every few operations and each full collection walks every module imported so far
(measured: 1,200 collections, 1.1 s per seed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from pathlib import Path

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_MMAP_THRESHOLD = 1 << 30  # bytes; blocks below this come from the heap (reused) instead of fresh mmaps
_TRIM_THRESHOLD = 2**31 - 1  # bytes of free heap top kept before returning memory to the kernel
_TOP_PAD = 1 << 29  # extra bytes requested per heap growth, fewer brk calls


@functools.cache
def tune_allocator() -> bool:
    """Keep freed large blocks in the heap (glibc only; a no-op that returns False elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    ok &= mallopt(_M_TOP_PAD, _TOP_PAD) == 1
    return bool(ok)


GC_THRESHOLDS = (50_000, 20, 20)  # generation 0 collects 70x less often; cycles are still collected


def tune_gc() -> None:
    """Move everything imported so far out of the collector's sight and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# ------------------------------------------------------------------ the CPU policy
#
# Measured on a 2-core machine with one busy process beside the run: a tiny-model training step took
# 100 ms with one torch thread and 826 ms with two, because every intra-op parallel region on such
# small tensors waits for a thread the kernel has descheduled. So each training process uses ONE
# intra-op thread (also what makes a seed's numbers independent of the machine's core count), and
# seeds run side by side in separate processes, as many as the CPUs this process may use.

SEED_THREADS = 1  # torch intra-op threads per training process (the suites' train.threads default)


def cpu_budget() -> int:
    """CPUs this process may use: its affinity mask, bounded by a cgroup CPU quota (v2 ``cpu.max``
    or v1 ``cfs_quota_us / cfs_period_us``, rounded down, at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def _cgroup_quota() -> int | None:
    for path, parse in (("/sys/fs/cgroup/cpu.max", _parse_cpu_max),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", _parse_cfs)):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        value = parse(text, path)
        if value is not None:
            return value
    return None


def _parse_cpu_max(text: str, _path: str) -> int | None:
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return max(1, int(int(parts[0]) / int(parts[1])))
    except (ValueError, ZeroDivisionError):
        return None


def _parse_cfs(text: str, path: str) -> int | None:
    try:
        quota = int(text.strip())
        period = int(Path(path).with_name("cpu.cfs_period_us").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else max(1, quota // period)


def seed_processes(n_seeds: int, requested: int | None = None) -> int:
    """How many processes train ``n_seeds`` seeds side by side: ``requested`` (``--jobs``) when
    given, else one per CPU of :func:`cpu_budget`, never more than the seeds. Each uses
    ``SEED_THREADS`` torch threads, so processes x threads never exceeds the CPUs."""
    if requested is not None and requested < 1:
        raise ValueError(f"jobs must be a positive integer, got {requested!r}")
    return max(1, min(n_seeds, requested if requested is not None else cpu_budget()))


def quiet_openmp() -> None:
    """Make idle OpenMP threads sleep instead of spinning against other processes
    (``OMP_WAIT_POLICY=PASSIVE``); effective only before torch starts its thread pool, so the CLI
    calls it first. A value the user set is kept."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def policy(processes: int, threads: int) -> dict:
    """What a record states about the CPU policy it ran under (harness.records)."""
    return {"seed_processes": processes, "torch_threads_per_process": threads, "cpu_budget": cpu_budget(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
