"""The environment a result was made in: the lock file, how the running packages differ from it, and
the determinism settings. A leaf module (standard library only, torch imported lazily).

The lock (``locks/cpu.txt``, made by ``scripts/lock.sh``) pins every package of the CPU install with
its sha256 hashes; ``scripts/setup.sh`` installs exactly that. A record stores the lock's digest and
the packages whose running version differs from it, so two records with the same digest were made
with the same versions, and a record made off the lock says so.

Determinism on CPU: with the same torch build, the same number of intra-op threads (the CPU policy,
harness.runtime) and ``torch.use_deterministic_algorithms(True)``, a seed's training and evaluation
are bit-identical across processes on one machine. Across machines, float reductions can take other
vectorised kernels (AVX2 against AVX-512 in oneDNN/MKL), so bit-identity holds only on the same
instruction set; ``harness reproduce`` reports that case with the platform difference.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
import sys
from pathlib import Path

# The lock this environment was installed from: locks/cpu.txt (setup.sh); an image installed from another
# lock names it (the GPU job image: HARNESS_LOCK=gpu.txt, HARNESS_LOCKS_DIR=/opt/harness/locks).
LOCK_NAME = os.environ.get("HARNESS_LOCK", "cpu.txt")
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def locks_dir() -> Path:
    return Path(os.environ.get("HARNESS_LOCKS_DIR") or Path(__file__).resolve().parent.parent / "locks")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def lock_pins(name: str = LOCK_NAME) -> dict[str, str]:
    """``{package: version}`` pinned by a lock file (empty when the file is absent, e.g. in an
    installed wheel without the repository)."""
    path = locks_dir() / name
    if not path.is_file():
        return {}
    pins = {}
    for line in path.read_text().splitlines():
        m = _PIN.match(line)
        if m:
            pins[_normalise(m.group(1))] = m.group(2)
    return pins


@functools.cache
def lock_digest(name: str = LOCK_NAME) -> str | None:
    """sha256 of the lock file's bytes, or None when there is no lock file."""
    path = locks_dir() / name
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@functools.cache
def lock_mismatches(name: str = LOCK_NAME) -> tuple[str, ...]:
    """Packages of the lock whose installed version differs: ``"name: locked X, installed Y"`` (or
    ``not installed``), sorted. Empty when the environment is the lock (or there is no lock)."""
    out = []
    for pkg, pinned in sorted(lock_pins(name).items()):
        try:
            installed = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{pkg}: locked {pinned}, not installed")
            continue
        if installed != pinned:  # a local label (2.13.0+cpu) is part of the pin: a CUDA 2.13.0 is another package
            out.append(f"{pkg}: locked {pinned}, installed {installed}")
    return tuple(out)


def lock_provenance() -> dict:
    """The record's ``provenance.lock`` block: {file, sha256, mismatches}."""
    return {"file": f"locks/{LOCK_NAME}", "sha256": lock_digest(), "mismatches": list(lock_mismatches())}


_warned = False


def warn_if_off_lock(stream=None) -> bool:
    """Print one warning (per process) when the running packages differ from the lock; True if so."""
    global _warned
    mism = lock_mismatches()
    if not mism or _warned:
        return bool(mism)
    _warned = True
    stream = stream or sys.stderr
    shown = "; ".join(mism[:5]) + (f"; and {len(mism) - 5} more" if len(mism) > 5 else "")
    print(f"warning: this environment differs from {LOCK_NAME} ({shown}). Records made here may not "
          "reproduce the boards; run 'bash scripts/setup.sh' to install the locked versions.", file=stream)
    return True


DETERMINISM = {"use_deterministic_algorithms": True, "cudnn_benchmark": False}


def make_deterministic() -> dict:
    """Apply the torch settings that make a seed's run deterministic and return them for the record.

    Raises nothing on CPU: every op the harness uses on CPU has a deterministic implementation; a
    nondeterministic one (a CUDA scatter-add, say) raises RuntimeError naming itself (``warn_only``
    is off) rather than silently changing numbers."""
    import torch

    torch.use_deterministic_algorithms(DETERMINISM["use_deterministic_algorithms"])
    torch.backends.cudnn.benchmark = DETERMINISM["cudnn_benchmark"]
    return dict(DETERMINISM, torch_threads=torch.get_num_threads(), isa=cpu_isa())


_CPU_FIELDS = ("vendor_id", "model name", "cpu family", "model", "stepping")


@functools.cache
def cpu_model() -> str:
    """The CPU as the kernel names it: ``/proc/cpuinfo``'s vendor, model name, family, model and
    stepping (e.g. ``AuthenticAMD AMD EPYC (family 25 model 17 stepping 1)``; a virtual machine's model
    name can be as vague as ``AMD EPYC``, the numbers tell generations apart), else
    ``platform.processor()``, else ``"unknown"``. Two machines with one instruction set can still take
    other kernels in MKL and oneDNN by vendor and model, so a record names it
    (``provenance.hardware.cpu_model``)."""
    facts: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if not line.strip():
                break  # the first processor's block is enough
            key, _, value = line.partition(":")
            if key.strip() in _CPU_FIELDS:
                facts.setdefault(key.strip(), " ".join(value.split()))
    except OSError:
        pass
    text = " ".join(facts[k] for k in ("vendor_id", "model name") if facts.get(k))
    numbers = " ".join(f"{k.replace('cpu ', '')} {facts[k]}" for k in ("cpu family", "model", "stepping") if facts.get(k))
    if text and numbers:
        text = f"{text} ({numbers})"
    if not text:
        import platform

        text = platform.processor()
    return re.sub(r"[^\x20-\x7e]", "?", text)[:200] or "unknown"


@functools.cache
def cpu_isa() -> str:
    """The widest vector instruction set torch's CPU kernels dispatch to (e.g. ``AVX512``, ``AVX2``):
    the one platform fact that can change a float reduction between two machines."""
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError):
        return "unknown"
