"""The sandbox: untrusted loss code never runs in a trusted process.

``open_session(path)`` returns a LossSession whose loss runs in a jailed worker. Backends are picked
by name from ``BACKENDS``: ``jail`` (bubblewrap + seccomp, the default), ``docker`` (hardened
container, optionally gVisor) and ``none`` (in-process, trusted files only, needs ``trust=True``).
``auto`` means the jail; when it cannot run, open_session refuses instead of running in-process.

THREAT MODEL. Loss files come from strangers and from LLMs. The loss runs in the worker's interpreter,
so it controls the whole worker: its replies, its stderr, its exit code and its clocks. Nothing the
worker says is believed; every wall below is enforced from outside the loss's reach. Each row has an
adversarial file in tests/sandbox_attacks, run on every backend by tests/test_sandbox_conformance.py.

  threat                                 what stops it                                  attack file(s)
  read secrets in the environment        --clearenv; a fixed allow-list of variables     env_secret
  read home, stores, caches              only the interpreter, its packages, harness and  read_home
                                         the loss file are mounted; nothing else exists
  reach the network                      own network namespace AND seccomp kills socket() network
  write outside its scratch space        read-only binds; a size-capped private /tmp;     write_outside, disk_fill
                                         RLIMIT_FSIZE
  start processes                        seccomp kills exec, fork, vfork, non-thread clone shell, fork_bomb,
                                                                                          subprocess_at_import
  thread bomb                            a pids cgroup per session (root), RLIMIT_NPROC   thread_bomb
                                         (unprivileged); a warning when neither holds
  memory in the address space            RLIMIT_AS (-> oom)                               memory_hog
  memory OUTSIDE the address space       /dev (and /dev/shm) read-only; seccomp kills     dev_shm_fill,
    (/dev/shm, /dev, System V shm, msg,  shmget/shmat/msgget/semget/mq_open/memfd_create; ipc_memory[shm, msg,
    sem, POSIX shm and mqueues, memfd)   own IPC namespace (objects die with the jail);    sem, mq, memfd]
                                         a memory cgroup per session capped at
                                         memory_bytes, swap included (root, v1 or v2);
                                         the test watches the host's Shmem/MemAvailable
  CPU, wall clock, output floods, hang   RLIMIT_CPU, per-call and per-session deadlines,  cpu_spin, hang,
                                         stderr cap                                       hang_at_import, stderr_flood
  crash the interpreter                  separate process: crash status                   ctypes_segfault
  tamper with training or records        the trainer, torch and records live in another   monkeypatch
                                         process; the loss only answers numbers
  attack the trusted side with replies   bounded frames; JSON header checked for depth    forged_reply, huge_frame,
    (oversized, pickles, huge integers,  and number range BEFORE parsing, then against a   malformed_reply[...],
    wrong types, deep nesting, invalid   per-kind schema (harness.sandbox.wire); any      nan_reply, oversized_reply,
    UTF-8, NaN, truncated frames)        slip is a WireError = sandbox_violation          stdout_garbage
  lie about its speed                    the harness times each call around the round    lying_timing
                                         trip; the worker reports no time
  lie about how it ended                 a supervisor (harness.sandbox.supervisor) forks  lying_exit[159, 137,
    (os._exit(159) posing as a seccomp   and execs the worker, reads waitpid and signs    152, kill_supervisor]
    kill, 137 as oom, 152 as timeout)    its report with a one-time token; the memory
                                         cgroup's oom_kill counter; no report = violation
  pass the check, sabotage training      one input contract (check_probes.INPUT_DTYPES),  check_vs_train,
                                         probes include training's first step; training   length_table
                                         ends a seed with a non-finite loss, gradient
                                         norm or weight as ``diverged`` (never ``error``)
  break the plumbing with a file name    the jail never sees the host name (fixed         long_name
    (255 bytes, unicode, spaces)         /loss/loss.py, fixed memfd label)
  escalate privileges                    uid 65534 in a user namespace, no capabilities,
                                         no_new_privs, own pid/ipc/uts/cgroup namespaces,
                                         new session (no terminal), --die-with-parent
  show one text, run another (a UTF-7    loss files are strict UTF-8: a coding line for     utf7_comment
    coding line turns a comment into     another codec, a byte-order mark or other bytes
    code)                                are refused (harness.lossfile.decode_source), in
                                         files and in records' sources alike
  fast on the check's probes, slow in    training's per-call limit: max(2 s, 100 x the      slow_in_training
    training (29 s a call under a 30 s   check's fastest call); a seed's loss time: max(60
    limit: an hour per seed at ~0 CPU)   s, 20 x fastest x calls); a seed's session 3 h;
                                         discovery's per-candidate deadline (then a hard
                                         stop): status timeout, with its record
                                         (harness.sandbox.limits.TimeBudget)
  take more cores than its share         a cpu cgroup quota of SandboxLimits.cores         cpu_threads
    (torch.set_num_threads(8))           (cpu_cores, default: threads = 1) per session
                                         (root, v1 or v2; the kernel's nr_throttled shows
                                         it acting); docker --cpus
  keep state from the check into         a fresh session (a new worker) for the check and   check_state
    training, or from seed to seed       for every seed (harness.sandbox.seeds.SeedSessions,
                                         renewed by the trainer)

PUBLISHED RESULTS (issue 29). What a stranger's record, board folder or container result can do, and
what stops it; each class has its tests in tests/test_attack_*.py (user docs: docs/security.md).

  threat                                 what stops it                                    tests
  fabricated seeds verified              every seed re-run (or K drawn here after the      test_attack_verification
                                         submission, false-accept rate C(n-f,k)/C(n,k)),
                                         compared per prompt within REPRODUCTION_TOLERANCE
                                         (harness.reproduce); censored on both sides
                                         proves nothing; the board names the seeds re-run
  a board folder writes outside itself   the journal and every path from the folder        test_attack_boards
                                         resolved and confined to it; links refused;
                                         the journal git-ignored
  a file's own "verified": true          full checks on load (strict types, aggregates);   test_attack_boards
                                         a verification counts only with the seal of the
                                         board key kept outside the folder; a bad file is
                                         listed as rejected, with the reason
  unverified records used as evidence    compare, agreement and runs leave them out        test_attack_evidence
                                         unless asked (then labelled); names resolve to
                                         verified entries first
  a container's result believed          one validator with the bench path                 test_attack_discovery
                                         (harness.executors.results): unknown keys and
                                         paths outside the job folder are the candidate's
                                         failure; fitness recomputed from the checked record
  oversized records bloat a board        caps on source, error, names and every text;      test_attack_boards
                                         record files read with a size cap
  different losses merged as twins       the behaviour key holds the loss's values at 13   test_attack_discovery
                                         points of beta * rho in [-8, 8]
  concurrent first opens of a run store  schema made under a lock file (SQLite), a racing  test_attack_evidence
                                         "already exists" retried (servers)

NOT COVERED, and why:
* Kernel exploits. The jail shares the host kernel; a bug in a system call seccomp allows is an
  escape. Run code from unknown authors with the docker backend and ``docker_runtime="runsc"``
  (gVisor, a user-space kernel).
* Memory without a memory cgroup (an unprivileged harness, or no writable memory controller): the
  closed routes above hold, but kernel memory the worker can still make the kernel keep for it (pipe
  buffers: at most open_files x 1 MiB; page tables, thread stacks within the pids cap) is bounded only
  by those limits, not by memory_bytes. With the cgroup (root here, cgroup v1 or v2) it is.
* Side channels (timing, caches) and a loss that lies about its own values: its answer is just
  numbers, checked for shape, dtype and finiteness; a bad loss only ruins its own score.
* A loss that tells the check from training by the number or order of calls: that cannot be hidden,
  which is why training guards itself instead of trusting the check's verdict.
* Loss-made text (exception messages, stderr tails) is data: it is bounded here and must be escaped
  where it is shown (harness.text); the discovery proposer may quote it but never follow it.
* The CPU share without a cpu cgroup (an unprivileged harness, or no writable cpu controller): not
  enforced, and the jail warns; OMP_NUM_THREADS only sets the default. The docker backend's --cpus
  enforces it. The other time limits hold everywhere.
* A loss that behaves differently in training than under the check (it can tell them apart by the
  batch size): what it does in training is measured by training itself; the time limits, the
  divergence guard and the fresh sessions bound what it can carry or cost, not what it computes.
  State a loss keeps within one seed's training is its own.
* Discovery's hard stop past the deadline works in a worker's main thread (local workers, containers,
  Ray tasks); the deadline at every loss call holds everywhere. Training and evaluation code between
  loss calls is the harness's own and is bounded by the suite's size, not by the loss.
* Verification: a re-run of K of N seeds accepts a record with f fabricated seeds with probability
  C(N-f, K) / C(N, K) (every seed, the default: 0). The seal proves that the board's own process wrote
  a verification; anyone holding the board key can seal, and a board folder from elsewhere reads as
  unverified here until it is re-run or its owner vouches for it (harness leaderboard --seal).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.hyperparams import resolve
from harness.registry import Registry
from harness.sandbox.errors import SandboxUnavailable
from harness.sandbox.limits import SandboxLimits, TimeBudget


def _open_jail(path, source, sha256, params, limits, trust):
    from harness.sandbox.jail import open_jail

    return open_jail(path, source, sha256, params, limits)


def _open_docker(path, source, sha256, params, limits, trust):
    from harness.sandbox.docker import open_docker

    return open_docker(path, source, sha256, params, limits)


def _open_none(path, source, sha256, params, limits, trust):
    if not trust:
        raise SandboxUnavailable(
            f"backend 'none' runs {path} inside this process with full access to it; "
            "pass trust=True (CLI: --trust) only for loss files you wrote or reviewed"
        )
    from harness.lossfile import load_loss, loss_from_bytes
    from harness.session import InProcessSession, LossCallError

    try:
        return InProcessSession(load_loss(loss_from_bytes(path, source)))  # hyper-parameters: open_session
    except Exception as e:  # a broken trusted file is still a candidate failure, not a harness crash
        raise LossCallError("invalid", f"{type(e).__name__}: {e}") from e


BACKENDS: Registry = Registry("sandbox backend")
BACKENDS.add("jail", _open_jail, "bubblewrap namespaces + seccomp + rlimits (default on Linux)")
BACKENDS.add("docker", _open_docker, "hardened docker container (optionally gVisor via runsc)")
BACKENDS.add("none", _open_none, "in-process, trusted files only (needs trust=True)")


@dataclass(frozen=True)
class SessionSpec:
    """How to open one more session on the same loss bytes, backend, limits and trust: what a seed
    worker process receives (picklable) to open its own sandbox (harness.suites.tiny.workers), and
    the time budget of training (harness.sandbox.seeds.SeedSessions)."""

    loss: object  # harness.lossfile.LossFile, read once by the parent
    backend: str  # a concrete backend name (never "auto": the parent resolved it)
    trust: bool = False
    limits: SandboxLimits | None = None
    check_call_s: float | None = None  # the check's fastest call (None: no check ran)
    budget: TimeBudget | None = None  # None: TimeBudget()
    deadline: float | None = None  # time.time() by which the whole evaluation must end (discovery)
    hyperparameters: dict | None = None  # the loss's hyper-parameter values (harness.hyperparams)

    def open(self, limits: SandboxLimits | None = None):
        return open_session(self.loss, backend=self.backend, limits=limits or self.limits, trust=self.trust,
                            hyperparameters=self.hyperparameters)


def open_session(path, *, backend: str = "auto", limits: SandboxLimits | None = None, trust: bool = False,
                 hyperparameters: dict | None = None):
    """Open a session on the loss file at ``path`` (or a ``harness.lossfile.LossFile`` already read,
    whose bytes are then the ones run); use it as a context manager. A combination of built-ins
    (harness.combination) runs as its generated file. ``hyperparameters`` (name -> value) are checked
    against the file's declared ranges here, on the trusted side, and passed to every call (the
    session's ``hyperparameters`` holds every declared one, defaults filled in).

    Raises LossCallError("invalid") for a file that breaks the loss contract, SandboxUnavailable when
    the chosen backend cannot run here (never falls back to running the loss in-process), and
    harness.hyperparams.HyperparameterError for a value the file does not declare or allow.
    """
    from harness.lossfile import LossFile, LossFileError, executable, read_loss
    from harness.session import LossCallError

    limits = limits or SandboxLimits()
    if backend == "auto":
        from harness.sandbox.jail import usable

        ok, reason = usable()
        if not ok:
            raise SandboxUnavailable(
                f"no sandbox backend is usable: jail: {reason}. Fix that, or choose "
                "backend='docker'; untrusted losses never run in-process"
            )
        backend = "jail"
    factory = BACKENDS.get(backend)
    try:
        loss = path if isinstance(path, LossFile) else read_loss(path)
        runs = executable(loss)
    except LossFileError as e:
        raise LossCallError("invalid", str(e)) from e
    values = resolve(loss.signature.hyperparameters, hyperparameters, f"loss {loss.name!r}")
    session = factory(runs.path, runs.data, runs.sha256, runs.signature.params, limits, trust)
    session.hyperparameters = values
    return session
