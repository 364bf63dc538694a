"""Resource limits and backend settings of one sandboxed loss session.

One frozen config for every backend, saved into results as-is. The defaults fit a training run of
a loss on the tiny suite; raise ``call_timeout_s`` and ``session_timeout_s`` for long jobs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class SandboxLimits:
    """Limits that hold for the jailed worker; every one is enforced outside the loss's reach."""

    memory_bytes: int = 4 * GiB
    """Address-space limit (RLIMIT_AS) of the worker; torch alone maps about 1 GiB."""
    cpu_seconds: int = 3600
    """CPU-time limit (RLIMIT_CPU) of the worker over its whole life, torch import included."""
    file_size_bytes: int = 16 * MiB
    """Largest file the worker may write (RLIMIT_FSIZE); it can only write to its scratch tmpfs."""
    scratch_bytes: int = 64 * MiB
    """Size of the worker's private tmpfs /tmp (also its HOME): bounds disk use."""
    open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""
    processes: int = 64
    """RLIMIT_NPROC. NOT enforced when the jail is started by root, hence the seccomp fork block."""
    start_timeout_s: float = 60.0
    """Wall-clock limit from launch to the worker's hello (torch import and loss file load)."""
    call_timeout_s: float = 30.0
    """Wall-clock limit of one loss call (a training step's forward and backward of the loss)."""
    session_timeout_s: float = 6 * 3600.0
    """Wall-clock limit of the whole session (a job)."""
    stderr_bytes: int = 4 * MiB
    """Total stderr (and the loss's own stdout) a worker may write before it is killed."""
    stderr_tail_bytes: int = 8192
    """How much of the end of stderr is kept and reported with a failure."""
    max_batch: int = 65536
    """Largest batch size B a call may carry; bounds every frame on the wire."""
    threads: int = 1
    """Intra-op threads of torch inside the worker (OMP_NUM_THREADS)."""
    cpu_cores: float | None = None
    """The worker's CPU share in cores, enforced by a cpu cgroup quota (jail, as root) or ``--cpus``
    (docker), whatever threads the loss starts; None: ``threads``."""
    docker_image: str = "harness-loss-worker:latest"
    """Docker backend: the image holding python, torch and harness (``python -m harness.sandbox.worker``)."""
    docker_python: str = "python3"
    """Docker backend: the interpreter inside the image."""
    docker_runtime: str = ""
    """Docker backend: ``runsc`` runs the container under gVisor (kernel-exploit protection); empty = default."""
    docker_gpus: str = ""
    """Docker backend: value for ``--gpus`` (e.g. ``device=0``); empty = no GPU."""

    def __post_init__(self):
        for name in (
            "memory_bytes",
            "cpu_seconds",
            "file_size_bytes",
            "scratch_bytes",
            "open_files",
            "processes",
            "stderr_bytes",
            "stderr_tail_bytes",
            "max_batch",
            "threads",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)}")
        for name in ("start_timeout_s", "call_timeout_s", "session_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)}")
        if self.cpu_cores is not None and not self.cpu_cores > 0:
            raise ValueError(f"SandboxLimits.cpu_cores must be positive (or None for threads), got {self.cpu_cores}")
        if self.open_files < 16:
            raise ValueError("SandboxLimits.open_files must be at least 16: python and torch need a few")
        if self.stderr_tail_bytes > self.stderr_bytes:
            raise ValueError("SandboxLimits.stderr_tail_bytes must not exceed stderr_bytes")

    @property
    def cores(self) -> float:
        """The CPU share the worker gets, in cores."""
        return float(self.cpu_cores if self.cpu_cores is not None else self.threads)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TimeBudget:
    """How long a loss may take in training, relative to its speed under ``harness check``.

    A loss can be fast on the check's probes and slow in training (it tells them apart by the batch
    size or the call count). So each training call is limited to ``call_factor`` times the check's
    fastest call, never below ``call_floor_s``; a seed's summed loss time to ``seed_loss_factor`` times
    the check's fastest call per call made, never below ``seed_loss_floor_s``; a seed's session to
    ``seed_wall_s`` of wall clock; and a whole evaluation to its deadline (discovery's per-candidate
    deadline). Past any of them the loss ends as ``timeout`` (harness.sandbox.seeds.SeedSessions).
    """

    call_floor_s: float = 2.0
    """Smallest per-call limit in training (an honest loss answers in milliseconds; the slack covers a
    busy machine)."""
    call_factor: float = 100.0
    """Per-call limit in training = call_factor x the check's fastest call (at its speed batch)."""
    seed_loss_floor_s: float = 60.0
    """Smallest budget of a seed's summed loss-call time."""
    seed_loss_factor: float = 20.0
    """A seed's summed loss time may reach seed_loss_factor x the check's fastest call x its calls."""
    seed_wall_s: float = 3 * 3600.0
    """Wall-clock limit of one seed's sandbox session (training that seed)."""

    def __post_init__(self):
        for name in ("call_floor_s", "call_factor", "seed_loss_floor_s", "seed_loss_factor", "seed_wall_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TimeBudget.{name} must be positive, got {getattr(self, name)}")

    def call_limit_s(self, check_call_s: float | None) -> float | None:
        """The per-call limit in training; None when the check measured no speed (the limits' own)."""
        return None if check_call_s is None else max(self.call_floor_s, self.call_factor * check_call_s)

    def seed_loss_budget_s(self, check_call_s: float | None, calls: int) -> float | None:
        return None if check_call_s is None else max(self.seed_loss_floor_s,
                                                     self.seed_loss_factor * check_call_s * calls)

    def to_dict(self) -> dict:
        return asdict(self)
