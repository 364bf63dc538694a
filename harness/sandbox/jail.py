"""The jail backend: a bubblewrap jail around one loss worker process.

The threat model (what the jail covers, what it does not, and why) is at the top of the sandbox
package: harness/sandbox/__init__.py. The jail: bubblewrap namespaces (user, pid, net, ipc, uts,
cgroup, mount) with only the interpreter, harness and the loss file mounted read-only, a size-capped
/tmp, a read-only minimal /dev, per-session pids, memory and cpu cgroups when the harness is root, and the
worker's own rlimits and seccomp filter inside.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import harness
from harness.sandbox import cgroups
from harness.sandbox.client import WorkerSession
from harness.sandbox.limits import SandboxLimits

JAIL_UID = 65534  # nobody
_NO_PIDS_GUARD = (
    "the jail runs as root without a writable pids cgroup, so nothing caps the worker's thread count "
    "(RLIMIT_NPROC is not enforced for root): run the harness as an unprivileged user, give it the "
    "pids cgroup controller, or use the docker backend (--pids-limit)"
)
_NO_CPU_GUARD = (
    "no writable cpu cgroup controller (an unprivileged harness, or none offered): the worker's CPU share is "
    "not capped, so a loss that starts many threads can take every core; OMP_NUM_THREADS only sets the "
    "default. Run the harness as root with the cpu controller, or use the docker backend (--cpus)"
)
LOSS_DIR = "/loss"
# The loss file's name inside the jail: fixed, so that any legal host file name works (the loss's
# own name comes from the trusted side; the file's name never reaches the jail).
LOSS_NAME = "loss"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _system_binds() -> list[str]:
    args = []
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for f in _ETC_FILES:
        args += ["--ro-bind-try", f, f]
    return args


def _python_binds() -> list[str]:
    """The interpreter, the virtual environment and the harness package, read-only, at their own paths."""
    dirs = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).absolute(),
        Path(sys.executable).resolve().parent,
        Path(harness.__file__).resolve().parent,
    }
    kept = sorted(d for d in dirs if not any(p in d.parents for p in dirs))
    args = []
    for d in kept:
        args += ["--ro-bind", str(d), str(d)]
    return args


def jail_env(limits: SandboxLimits) -> dict[str, str]:
    """The complete environment inside the jail: an allow-list of fixed values, nothing inherited."""
    threads = str(limits.threads)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
    }


def worker_args(loss_path: str, limits: SandboxLimits) -> list[str]:
    """The argv after the interpreter: the supervisor, then the worker's (shared with the docker backend)."""
    keys = (
        "memory_bytes",
        "cpu_seconds",
        "file_size_bytes",
        "open_files",
        "processes",
        "threads",
        "max_batch",
    )
    worker = _boot("harness.sandbox.worker", loss_path, json.dumps({k: getattr(limits, k) for k in keys}))
    return _boot("harness.sandbox.supervisor", *worker)  # the worker runs under its supervisor


# Runs a harness module with the harness package's own folder first on sys.path: an editable install
# may map ``harness`` to another checkout, which is not mounted in the jail.
_BOOT = (
    "import runpy, sys; sys.path.insert(0, sys.argv[1]); m = sys.argv[2]; del sys.argv[1:3]; "
    "runpy.run_module(m, run_name='__main__', alter_sys=True)"
)


def _boot(module: str, *args: str) -> list[str]:
    root = str(Path(harness.__file__).resolve().parent.parent)
    return ["-I", "-B", "-c", _BOOT, root, module, *args]


def jail_command(loss_fd: int, loss_name: str, limits: SandboxLimits, bwrap: str = "bwrap") -> list[str]:
    """The bwrap command line; the loss source is copied in from ``loss_fd`` (read-only)."""
    inside = f"{LOSS_DIR}/{loss_name}.py"
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        str(JAIL_UID),
        "--gid",
        str(JAIL_UID),
        "--hostname",
        "jail",
        *_system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # A minimal /dev (null, zero, random, tty, ...) on a tmpfs the size of half the host's RAM:
        # read-only, so neither /dev nor /dev/shm can hold memory outside the limits.
        "--remount-ro",
        "/dev",
        # The scratch tmpfs goes BEFORE the interpreter binds: bwrap mounts in order, so a checkout or
        # virtual environment that lives under /tmp stays visible (read-only) on top of the tmpfs.
        "--perms",
        "1777",
        "--size",
        str(limits.scratch_bytes),
        "--tmpfs",
        "/tmp",
        *_python_binds(),
        "--perms",
        "0444",
        "--ro-bind-data",
        str(loss_fd),
        inside,
        "--remount-ro",
        "/",
        "--chdir",
        "/tmp",
        "--clearenv",
    ]
    for k, v in jail_env(limits).items():
        args += ["--setenv", k, v]
    return [*args, "--", sys.executable, *worker_args(inside, limits)]


@functools.lru_cache(maxsize=1)
def usable() -> tuple[bool, str]:
    """Whether this machine can run the jail, and why not. Probes bubblewrap once per process."""
    if not sys.platform.startswith("linux"):
        return False, f"the jail needs Linux (this is {sys.platform})"
    from harness.sandbox import seccomp

    try:
        seccomp.build_program()
    except seccomp.SeccompUnavailable as e:
        return False, str(e)
    bwrap = bwrap_path()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed; install it, e.g. `apt-get install bubblewrap`"
    probe = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--uid",
        str(JAIL_UID),
        *_system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "/bin/sh",
        "-c",
        "exit 0",
    ]
    try:
        r = subprocess.run(probe, capture_output=True, text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bubblewrap could not start a jail: {e}"
    if r.returncode != 0:
        return False, (
            f"bubblewrap could not start a jail (user namespaces disabled?): {r.stderr.strip()[-500:]}"
        )
    return True, "ok"


def open_jail(
    path: Path, source: bytes, sha256: str, params: tuple[str, ...], limits: SandboxLimits
) -> WorkerSession:
    ok, reason = usable()
    if not ok:
        from harness.sandbox.errors import SandboxUnavailable

        raise SandboxUnavailable(f"the jail backend cannot run here: {reason}")
    # The memfd's name is only a label (the kernel keeps 249 bytes of it): a fixed one, since a loss
    # file may have any legal name (255 bytes, any unicode).
    fd = os.memfd_create("harness-loss", os.MFD_CLOEXEC)
    cgroup = cgroups.create(limits.processes, limits.memory_bytes, limits.cores)
    if (cgroup is None or "pids" not in cgroup.controllers) and cgroups.guard_kind() == "none":
        warnings.warn(_NO_PIDS_GUARD, stacklevel=3)
    if cgroup is None or "cpu" not in cgroup.controllers:
        warnings.warn(_NO_CPU_GUARD, stacklevel=3)
    try:
        os.write(fd, source)
        os.lseek(fd, 0, os.SEEK_SET)
        cmd = jail_command(fd, LOSS_NAME, limits, bwrap_path())
        if cgroup is not None:  # join the capped cgroups, then become bubblewrap: every task counts
            join = 'for f in $0; do echo $$ > "$f" || exit 125; done; exec "$@"'
            cmd = ["/bin/sh", "-c", join, " ".join(map(str, cgroup.procs)), *cmd]
        return WorkerSession(
            cmd,
            limits=limits,
            name=path.stem,
            sha256=sha256,
            params=params,
            backend="jail",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            pass_fds=(fd,),
            on_close=cgroup.remove if cgroup is not None else None,
            oom_killed=cgroup.oom_killed if cgroup is not None else None,
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    finally:
        os.close(fd)
