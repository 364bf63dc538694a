"""The docker backend: the same loss worker, inside a hardened, network-less container.

The container adds what the jail lacks: cgroup limits on memory, CPU and process count (enforced even
for root-started jobs) and, with ``docker_runtime="runsc"``, gVisor's user-space kernel between the
loss and the host kernel, which is the answer to kernel exploits (see the threat model in jail.py).
The worker still sets its rlimits and installs its seccomp filter inside the container, so every
claim of the jail's threat model holds here too. Nothing from the host environment is passed in:
the container gets the jail's fixed allow-list of variables and the loss file, read-only.

Under runsc with ``--ignore-cgroups`` (how our test tier registers it, since gVisor's cgroup setup
fails inside CI containers) ``--memory`` and ``--pids-limit`` are not enforced; the worker's rlimits
and seccomp filter still are.

The image must hold python, torch and harness so that ``<docker_python> -m harness.sandbox.worker``
runs; no image is pulled (``--pull never``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from harness.sandbox.client import WorkerSession
from harness.sandbox.jail import JAIL_UID, LOSS_DIR, LOSS_NAME, jail_env, worker_args
from harness.sandbox.limits import SandboxLimits


def docker_command(loss_file: Path, loss_name: str, name: str, limits: SandboxLimits) -> list[str]:
    """The ``docker run`` command line for one worker; ``loss_file`` is bound read-only."""
    inside = f"{LOSS_DIR}/{loss_name}.py"
    mem = str(limits.memory_bytes)
    args = [
        "docker",
        "run",
        "-i",
        "--rm",
        "--init",  # as PID 1 the worker would ignore SIGXCPU; under an init it dies like in the jail
        "--pull",
        "never",
        "--name",
        name,
        "--network",
        "none",
        "--read-only",
        "--tmpfs",
        f"/tmp:rw,nosuid,nodev,size={limits.scratch_bytes},mode=1777",
        "--pids-limit",
        str(limits.processes),
        "--memory",
        mem,
        "--memory-swap",
        mem,
        "--cpus",
        f"{limits.cores:g}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        f"{JAIL_UID}:{JAIL_UID}",
        "--ulimit",
        "core=0",
        "--ipc",
        "none",
        "--log-driver",
        "none",
        "--mount",
        f"type=bind,source={loss_file},target={inside},readonly",
    ]
    for k, v in jail_env(limits).items():
        args += ["--env", f"{k}={v}"]
    if limits.docker_runtime:
        args += ["--runtime", limits.docker_runtime]
    if limits.docker_gpus:
        args += ["--gpus", limits.docker_gpus]
    return [*args, limits.docker_image, limits.docker_python, *worker_args(inside, limits)]


_USABLE: set[tuple[str, str]] = set()  # only successes are remembered: an image may be built later


def usable(image: str, runtime: str = "") -> tuple[bool, str]:
    """Whether docker can run ``image`` here (with ``runtime``), and why not."""
    if (image, runtime) in _USABLE:
        return True, "ok"
    if shutil.which("docker") is None:
        return False, "the docker CLI is not installed (e.g. `apt-get install docker.io`)"
    info = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True, timeout=30
    )
    if info.returncode != 0:
        return False, f"dockerd is not reachable: {info.stderr.strip()[-300:]}"
    if runtime and f'"{runtime}"' not in info.stdout:
        return False, (
            f"docker runtime {runtime!r} is not registered (have {info.stdout.strip()}); start "
            f"dockerd with --add-runtime {runtime}=$(which {runtime})"
        )
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, timeout=30)
    if found.returncode != 0:
        return False, (
            f"docker image {image!r} does not exist here; build it (e.g. `docker build -t {image} .` "
            "from the project's Dockerfile) or set SandboxLimits.docker_image"
        )
    _USABLE.add((image, runtime))
    return True, "ok"


class _Cleanup:
    """Removes the container (``docker run`` killed by a signal leaves it running) and the loss copy."""

    def __init__(self, name: str, folder: str):
        self.name, self.folder, self.done = name, folder, False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def open_docker(path: Path, source: bytes, sha256: str, params: tuple[str, ...], limits: SandboxLimits):
    ok, reason = usable(limits.docker_image, limits.docker_runtime)
    if not ok:
        from harness.sandbox.errors import SandboxUnavailable

        raise SandboxUnavailable(f"the docker backend cannot run here: {reason}")
    folder = tempfile.mkdtemp(prefix="harness-loss-")
    copy = Path(folder) / f"{LOSS_NAME}.py"  # any legal host name works: the copy's name is fixed
    copy.write_bytes(source)  # a private copy: later edits of the original cannot change the session
    copy.chmod(0o444)
    name = f"harness-loss-{uuid.uuid4().hex[:16]}"
    env = {
        k: os.environ[k]
        for k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT")
        if k in os.environ
    }
    cleanup = _Cleanup(name, folder)
    try:
        return WorkerSession(
            docker_command(copy, LOSS_NAME, name, limits),
            limits=limits,
            name=path.stem,
            sha256=sha256,
            params=params,
            backend="docker",
            env=env,
            on_kill=cleanup,
        )
    except BaseException:
        cleanup()
        raise
