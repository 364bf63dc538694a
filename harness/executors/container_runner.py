"""Run one job (a bench seed or a discovery candidate) in one hardened container of the job image.

The runner owns a container's whole life, like a batch scheduler: it stages the job folder (the spec
and the loss's source bytes, so nothing depends on the controller's paths), starts the container
labelled with its controller (``LABEL``), kills it past its time limit, reads how it ended from the
daemon (``State.OOMKilled``, exit code) and removes it. How it ended maps to a status:

=====================================  ============================================================
time limit passed, container killed    ``timeout`` (the candidate's)
OOM kill in the container's cgroup     ``oom`` (the candidate's)
job exit 0/1 with a result             the result's own status (ok, invalid, sandbox_violation...)
job exit 2 (the job itself is wrong)   ``error``: a harness fault, never the candidate's
runtime failure (docker exit 125-127,  ``error``: a harness fault (``RuntimeFault``), never the
daemon gone, no result file)           candidate's; discovery stops after a few in a row
=====================================  ============================================================

A controller killed with -9 cannot remove its containers; ``reap_orphans`` (called when an executor
starts) removes every labelled container whose controller process is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.executors.hardening import (
    LABEL,
    JobLimits,
    container_spec,
    docker_run_args,
    write_jail_seccomp_profile,
)
from harness.status import STATUSES, UNMEASURED

CPU_IMAGE = "harness-job-cpu:local"  # scripts/job_image.sh, no registry needed
GPU_IMAGE = "harness-job:latest"  # docker build -t harness-job:latest . (the root Dockerfile; pulls CUDA)
ERROR_TAIL = 4000
DOCKER_TIMEOUT_S = 120  # a docker CLI call that is not a job


class DockerUnavailable(RuntimeError):
    """No docker CLI, no daemon or no job image: the message says how to fix it."""


class RuntimeFault(RuntimeError):
    """The container runtime failed (not the candidate)."""


def _docker(*args: str, timeout: float = DOCKER_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def unavailable_reason(image: str) -> str | None:
    """Why jobs cannot run in ``image`` here (CLI, daemon, image), with the fix; None when they can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (Debian/Ubuntu: apt-get install docker.io)"
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except subprocess.TimeoutExpired:
        return "the docker daemon does not answer (docker info timed out)"
    if info.returncode != 0:
        return ("the docker daemon is not running (start it: `systemctl start docker`, or `dockerd &` as root): "
                f"{info.stderr.strip()[-300:]}")
    if _docker("image", "inspect", image).returncode != 0:
        return (f"the job image {image!r} is missing: build the CPU image with scripts/job_image.sh (no registry "
                f"needed), or the GPU image with `docker build -t {GPU_IMAGE} .` on a host that can pull")
    return None


def container_readiness() -> str:
    """One line for `harness suites`: can --executor docker run here, and with which image, or why not."""
    if shutil.which("docker") is None:
        return "job containers (--executor docker): no docker CLI; install docker.io to use them"
    for image in (CPU_IMAGE, GPU_IMAGE):
        if unavailable_reason(image) is None:
            return f"job containers (--executor docker): ready, image {image}"
    reason = unavailable_reason(CPU_IMAGE)
    return f"job containers (--executor docker): not ready: {reason}"


def image_identity(image: str) -> dict:
    """The image a job ran in: its tag, content id (sha256 digest) and registry digests, if any."""
    r = _docker("image", "inspect", "--format", "{{json .Id}}|{{json .RepoDigests}}", image)
    if r.returncode != 0:
        raise DockerUnavailable(unavailable_reason(image) or r.stderr.strip())
    image_id, digests = r.stdout.strip().split("|", 1)
    return {"image": image, "id": json.loads(image_id), "repo_digests": json.loads(digests) or []}


def _process_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    """host:pid:start-time of the controller; a reused pid has another start time."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's controller: not ours to judge
    return pid.isdigit() and _process_start(int(pid)) == start


def reap_orphans() -> list[str]:
    """Remove (kill) every labelled job container whose controller on this host is gone; their names."""
    r = _docker("ps", "-a", "--filter", f"label={LABEL}", "--format", f'{{{{.Names}}}}\t{{{{.Label "{LABEL}"}}}}')
    if r.returncode != 0:
        return []
    dead = [name for name, _, owner in (line.partition("\t") for line in r.stdout.splitlines() if line)
            if not _owner_alive(owner)]
    if dead:
        _docker("rm", "-f", *dead)
    return dead


def readable_by_all(folder: Path) -> None:
    """Let the containers' non-root user read the suite cache (public data; some writers create 0600 files)."""
    import stat

    for root, dirs, files in os.walk(folder):
        for name in dirs:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IRGRP | stat.S_IROTH)


@dataclass
class JobRun:
    """How one container ended. ``result`` is the job's result.json (its content is untrusted)."""

    status: str
    error: str | None
    exit_code: int | None
    seconds: float
    result: dict | None = None
    oom_killed: bool = False
    image: dict = field(default_factory=dict)

    @property
    def harness_fault(self) -> bool:
        return self.status == "error"


@dataclass
class ContainerRunner:
    """Runs jobs in ``image`` with ``limits``; ``data`` (the suite cache) and ``models`` mount read-only."""

    image: str
    limits: JobLimits = field(default_factory=lambda: JobLimits(memory="8g", shm="1g", cpus=2, pids=1024))
    timeout_s: float = 3600.0
    data: Path | None = None  # HARNESS_HOME/suites, mounted at /data/suites
    models: Path | None = None  # Hugging Face cache, mounted at /models

    def __post_init__(self):
        reason = unavailable_reason(self.image)
        if reason:
            raise DockerUnavailable(reason)
        self.identity = image_identity(self.image)
        self.owner = owner_id()
        if self.data is not None:
            readable_by_all(Path(self.data))

    def run(self, spec: dict, source: bytes, job_dir: Path, *, gpus: str = "") -> JobRun:
        """Run the job ``spec`` with the loss ``source`` in a fresh container; never raises for the candidate."""
        job_dir = Path(job_dir)
        out = job_dir / "out"
        out.mkdir(parents=True, exist_ok=True)
        out.chmod(0o777)  # the image's non-root user writes its result here; nothing else is writable
        (job_dir / "loss.py").write_bytes(source)
        (job_dir / "spec.json").write_text(json.dumps(container_spec(spec), indent=1))
        for p in (job_dir, job_dir / "loss.py", job_dir / "spec.json"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        profile = write_jail_seccomp_profile(job_dir) if spec.get("sandbox", "jail") in ("jail", "auto") else None
        name = f"harness-job-{uuid.uuid4().hex[:12]}"
        limits = JobLimits(**{**self.limits.__dict__, "gpus": gpus or self.limits.gpus})
        args = docker_run_args(image=self.image, spec=job_dir / "spec.json", loss=job_dir / "loss.py", out=out,
                               models=self.models, data=self.data, limits=limits, name=name, jail_seccomp=profile,
                               labels={LABEL: self.owner}, remove=False)
        if self.data is not None:  # the suite cache folder, not the whole HARNESS_HOME (runs stay out)
            args = [a.replace("target=/data,", "target=/data/suites,") for a in args]
        t0 = time.monotonic()
        try:
            return self._wait(args, name, out, t0)
        finally:
            _docker("rm", "-f", name)

    def _wait(self, args: list[str], name: str, out: Path, t0: float) -> JobRun:
        log = (out.parent / "container.log").open("w")
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        except OSError as e:
            return JobRun("error", f"container runtime: cannot start docker: {e}", None, 0.0, image=self.identity)
        timed_out = False
        try:
            proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _docker("kill", name)
            proc.wait(timeout=DOCKER_TIMEOUT_S)
        finally:
            log.close()
        seconds = time.monotonic() - t0
        state = _docker("inspect", "--format", "{{json .State}}", name)
        ended = json.loads(state.stdout) if state.returncode == 0 else {}
        tail = (out.parent / "container.log").read_text(errors="replace")[-ERROR_TAIL:]
        return self._classify(proc.returncode, ended, timed_out, seconds, out, tail)

    def _classify(self, code: int, state: dict, timed_out: bool, seconds: float, out: Path, tail: str) -> JobRun:
        run = JobRun("error", None, code, round(seconds, 3), oom_killed=bool(state.get("OOMKilled")),
                     image=self.identity)
        if timed_out:
            run.status, run.error = "timeout", f"the job container passed its time limit of {self.timeout_s:g} s and was killed"
        elif run.oom_killed:
            run.status, run.error = "oom", f"the job container was killed for memory (limit {self.limits.memory}): {tail[-800:]}"
        elif not state or code in (125, 126, 127):
            run.error = f"container runtime: docker exited {code} before the job ran: {tail}"
        elif code == 2:
            run.error = f"the job could not run (a harness fault, not the candidate's): {tail}"
        else:
            result = read_result(out / "result.json")
            if result is None:
                run.status = "crash" if code not in (0, 1) else "error"
                run.error = f"the job container exited {code} without a valid result: {tail}"
            else:
                run.result, run.status, run.error = result, result["status"], result.get("error")
        return run


def read_result(path: Path) -> dict | None:
    """The job's result.json if it is a JSON object with a known status (it comes out of the container)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in (*STATUSES, "duplicate", UNMEASURED):
        return None
    if data["status"] != "ok" and not isinstance(data.get("error"), str):
        data["error"] = f"the job reported {data['status']} without an error text"
    return data


def parse_gpus(gpus: str | None) -> list[str]:
    """``--gpus`` as a list of card indices: "all" (every card nvidia-smi lists), "0,2,3", or "" (CPU)."""
    if not gpus:
        return []
    if gpus == "all":
        r = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                           text=True) if shutil.which("nvidia-smi") else None
        if r is None or r.returncode != 0 or not r.stdout.split():
            raise DockerUnavailable("--gpus all: nvidia-smi lists no GPU on this host; omit --gpus for CPU containers")
        return r.stdout.split()
    cards = [g.strip() for g in gpus.split(",") if g.strip()]
    if not all(c.isdigit() for c in cards):
        raise ValueError(f"--gpus takes 'all' or card indices like 0,1,3; got {gpus!r}")
    return cards


class GpuPool:
    """Round-robin cards, at most ``per_card`` jobs on one card at a time (1: one job per card)."""

    def __init__(self, cards: list[str], per_card: int = 1):
        import threading

        self.cards, self.per_card = list(cards), per_card
        self.busy = {c: 0 for c in self.cards}
        self._next = 0
        self._cond = threading.Condition()

    def slots(self) -> int:
        return len(self.cards) * self.per_card

    def acquire(self) -> str:
        """A card ("device=N") for the next job; "" on a CPU host. Blocks while every card is full."""
        if not self.cards:
            return ""
        with self._cond:
            while True:
                for i in range(len(self.cards)):
                    card = self.cards[(self._next + i) % len(self.cards)]
                    if self.busy[card] < self.per_card:
                        self.busy[card] += 1
                        self._next = (self._next + i + 1) % len(self.cards)
                        return f"device={card}"
                self._cond.wait()

    def release(self, gpus: str) -> None:
        if gpus:
            with self._cond:
                self.busy[gpus.split("=", 1)[1]] -= 1
                self._cond.notify()
