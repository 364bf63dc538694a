"""One adversarial suite, run against every available sandbox backend (threat model: harness/sandbox/__init__.py).

Each attack must fail, be reported with the right status, and leave the host untouched: the canary
secret in the environment and in a file is never seen, the canary server on 127.0.0.1 receives
nothing, the canary file is unchanged, and no process of the session outlives it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import harness
from harness.paths import repo_root
from harness.sandbox import SandboxLimits, open_session
from harness.session import LossCallError

ATTACKS = Path(__file__).parent / "sandbox_attacks"
NAMES = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")

MALFORMED = (
    "huge_int", "huge_int_shape", "float_overflow", "nan", "infinity", "dtype_list", "name_dict",
    "tensors_str", "kind_list", "error_status_list", "error_message_int", "extra_field", "duplicate_key",
    "deep_nesting", "nesting_5", "invalid_utf8", "not_object", "truncated",
)  # fmt: skip
# attack file -> (expected status, text the message must contain, limit overrides)
CASES = {
    "env_secret": ("invalid", "no secret found", {}),
    "read_home": ("invalid", "nothing readable", {}),
    "network": ("sandbox_violation", "seccomp", {}),
    "write_outside": ("invalid", "writes refused", {}),
    "shell": ("sandbox_violation", "seccomp", {}),
    "subprocess_at_import": ("sandbox_violation", "seccomp", {}),
    "fork_bomb": ("sandbox_violation", "seccomp", {}),
    "memory_hog": ("oom", "MemoryError", {"memory_bytes": 3 << 30}),
    "cpu_spin": ("timeout", "wall-clock limit of 3 s", {"call_timeout_s": 3.0}),
    "cpu_spin[rlimit]": ("timeout", "CPU time", {"cpu_seconds": 5, "call_timeout_s": 60.0}),
    "hang": ("timeout", "wall-clock limit of 2 s", {"call_timeout_s": 2.0}),
    "hang[session]": ("timeout", "session wall-clock limit", {"session_timeout_s": 6.0}),
    "hang_at_import": ("timeout", "wall-clock limit of 15 s", {"start_timeout_s": 15.0}),
    "stderr_flood": ("sandbox_violation", "bytes to stderr", {"stderr_bytes": 1 << 20}),
    "disk_fill": ("invalid", "File too large", {}),
    "ctypes_segfault": ("crash", "SIGSEGV", {}),
    "monkeypatch": ("invalid", "Errno", {}),
    "nan_reply": ("invalid", "non-finite losses", {}),
    "oversized_reply": ("invalid", "expected per-example losses of shape (4,)", {}),
    "thread_bomb": ("invalid", "thread cap reached after", {}),
    "forged_reply": ("sandbox_violation", "bad frame start", {}),
    "huge_frame": ("sandbox_violation", "header length", {}),
    "dev_shm_fill": ("invalid", "writes refused", {}),
    **{f"ipc_memory[{v}]": ("sandbox_violation", "seccomp", {}) for v in ("shm", "msg", "sem", "mq", "memfd")},
    **{f"malformed_reply[{v}]": ("sandbox_violation", "wire protocol", {}) for v in MALFORMED},
    **{f"lying_exit[{c}]": ("crash", f"exited unexpectedly with code {c}", {}) for c in (159, 137, 152)},
    "lying_exit[kill_supervisor]": ("sandbox_violation", "supervisor", {}),
    "utf7_comment": ("invalid", "declares the encoding 'utf-7'", {}),
}
# attacks that try to hold host memory: watched through /proc/meminfo while they run
MEMORY_ATTACKS = ("dev_shm_fill", "ipc_memory", "memory_hog")


def _inputs(batch: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {n: -torch.rand(batch, generator=g, dtype=torch.float64) * 50 for n in NAMES}


class CanaryServer:
    """A TCP server on 127.0.0.1 that records every connection and byte it receives."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1.0)
            try:
                self.received.append(b"<connection>" + conn.recv(4096))
            except OSError:
                self.received.append(b"<connection>")
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _descendants() -> set[int]:
    """Live processes whose parent chain leads to this test process."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    me, found = os.getpid(), set()
    for pid in parents:
        p, seen = pid, 0
        while p in parents and p > 1 and seen < 64:
            p, seen = parents[p], seen + 1
            if p == me:
                found.add(pid)
                break
    return found


@pytest.fixture
def canaries(tmp_path, monkeypatch):
    secret = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    content = f"original-{uuid.uuid4().hex}"
    canary_file = tmp_path / "canary.txt"
    # the same secret in the user's home (where the harness keeps its stores) and in the work folder
    home_file = Path.home() / ".cache" / "harness" / f"sandbox-canary-{uuid.uuid4().hex}.txt"
    work_file = repo_root() / ".cache" / f"sandbox-canary-{uuid.uuid4().hex}.txt"
    for f in (canary_file, home_file, work_file):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(content)
    server = CanaryServer()
    before = _descendants()
    yield {
        "secret": secret,
        "file": canary_file,
        "home_file": home_file,
        "work_file": work_file,
        "content": content,
        "dir": tmp_path,
        "server": server,
    }
    server.close()
    unchanged = [f.read_text() == content for f in (home_file, work_file)]
    home_file.unlink()
    work_file.unlink()
    assert all(unchanged), "a canary file in the home or work folder was modified"
    deadline = time.monotonic() + 10
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _descendants() - before, "sandbox processes outlived their session"


def _prepare(name: str, canaries, **extra: str) -> Path:
    source = (ATTACKS / f"{name.split('[')[0]}.py").read_text()
    variant = name.partition("[")[2].rstrip("]")
    for key, value in extra.items():
        source = source.replace(f"@{key}@", value)
    source = (
        source.replace("@VARIANT@", variant)
        .replace("@CANARY_FILE@", str(canaries["file"]))
        .replace("@CANARY_DIR@", str(canaries["dir"]))
        .replace("@CANARY_PORT@", str(canaries["server"].port))
        .replace("@HOME_CANARY@", str(canaries["home_file"]))
        .replace("@WORK_CANARY@", str(canaries["work_file"]))
    )
    path = canaries["dir"] / "attack" / f"{name.split('[')[0]}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source)
    (path.parent / "sibling_secret.txt").write_text(canaries["content"])
    return path


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0]) * 1024
    return out


class MemoryWatch:
    """Samples the host's shared memory (Shmem) and available memory (MemAvailable) every 20 ms while
    an attack runs, and once more after its session closed."""

    def __init__(self):
        self.before = _meminfo()
        self.peak_shmem, self.low_available = self.before["Shmem"], self.before["MemAvailable"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.02):
            now = _meminfo()
            self.peak_shmem = max(self.peak_shmem, now["Shmem"])
            self.low_available = min(self.low_available, now["MemAvailable"])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.after = _meminfo()

    def assert_within(self, limits: SandboxLimits, slack: int = 256 << 20):
        """Shared memory never grew past the scratch cap, nothing was left behind, and the host lost no
        more available memory than the worker's limit (``slack`` absorbs other processes' noise)."""
        grew = self.peak_shmem - self.before["Shmem"]
        assert grew <= limits.scratch_bytes + (32 << 20), f"host Shmem grew by {grew >> 20} MiB"
        left = self.after["Shmem"] - self.before["Shmem"]
        assert left <= 32 << 20, f"{left >> 20} MiB of shared memory outlived the session"
        lost = self.before["MemAvailable"] - self.low_available
        assert lost <= limits.memory_bytes + slack, f"host MemAvailable fell by {lost >> 20} MiB"


def _attack(path: Path, backend: str, limits: SandboxLimits) -> LossCallError:
    with pytest.raises(LossCallError) as info:
        with open_session(path, backend=backend, limits=limits) as session:
            session.call(_inputs(), beta=0.1)
    return info.value


@pytest.mark.parametrize("name", sorted(CASES))
def test_attack_fails_and_host_is_untouched(name, sandbox_backend, canaries):
    backend, base_limits = sandbox_backend
    status, needle, overrides = CASES[name]
    if name == "thread_bomb" and backend == "jail":
        from harness.sandbox import cgroups

        if cgroups.guard_kind() == "none":
            pytest.skip(
                "root without a writable pids cgroup: nothing caps threads here (see sandbox/cgroups.py)"
            )
    original_grad, original_backward = torch.autograd.grad, torch.Tensor.backward
    limits = replace(base_limits, **overrides)
    with MemoryWatch() as memory:
        err = _attack(_prepare(name, canaries), backend, limits)
    if name.split("[")[0] in MEMORY_ATTACKS:
        memory.assert_within(limits)
    assert err.status == status, err.message
    assert needle in err.message, err.message
    assert canaries["secret"] not in err.message and "Error: LEAK" not in err.message
    assert canaries["content"] not in err.message
    assert canaries["file"].read_text() == canaries["content"]
    assert canaries["server"].received == []
    assert not (Path(harness.__file__).parent / "sandbox" / "_tampered.py").exists()
    assert not (Path(harness.__file__).resolve().parent / "runs" / "fake").exists()
    assert torch.autograd.grad is original_grad and torch.Tensor.backward is original_backward


def test_stdout_garbage_cannot_corrupt_the_protocol(sandbox_backend, canaries):
    backend, limits = sandbox_backend
    from harness.lossfile import load_loss
    from harness.session import InProcessSession

    path = _prepare("stdout_garbage", canaries)
    with open_session(path, backend=backend, limits=limits) as session:
        got = session.call(_inputs(), beta=0.1)
        again = session.call(_inputs(), beta=0.1)
        assert "garbage on stdout" in session.stderr_tail()
    want = InProcessSession(load_loss(ATTACKS / "stdout_garbage.py")).call(_inputs(), beta=0.1)
    for reply in (got, again):
        torch.testing.assert_close(reply.losses, want.losses, rtol=0, atol=0)
        for n in want.grads:
            torch.testing.assert_close(reply.grads[n], want.grads[n], rtol=0, atol=0)


def test_session_survives_a_raising_loss(sandbox_backend, canaries):
    backend, limits = sandbox_backend
    with open_session(ATTACKS / "flaky.py", backend=backend, limits=limits) as session:
        with pytest.raises(LossCallError) as info:
            session.call(_inputs(), beta=0.1)
        assert info.value.status == "invalid" and "flaky failure on call 1" in info.value.message
        reply = session.call(_inputs(), beta=0.1)
        assert reply.losses.shape == (4,) and torch.isfinite(reply.losses).all()


def test_dead_worker_reports_its_death_on_later_calls(sandbox_backend, canaries):
    backend, limits = sandbox_backend
    with open_session(_prepare("ctypes_segfault", canaries), backend=backend, limits=limits) as session:
        for _ in range(2):
            with pytest.raises(LossCallError) as info:
                session.call(_inputs(), beta=0.1)
            assert info.value.status == "crash"


def test_threads_still_work_under_seccomp(sandbox_backend, canaries):
    backend, limits = sandbox_backend
    with open_session(ATTACKS / "threads.py", backend=backend, limits=replace(limits, threads=2)) as session:
        reply = session.call(_inputs(), beta=0.1)
    inputs = _inputs()
    torch.testing.assert_close(reply.losses, inputs["policy_rejected_logps"] - inputs["policy_chosen_logps"])


@pytest.mark.docker
@pytest.mark.parametrize("name", ["fork_bomb", "network", "env_secret", "write_outside"])
def test_gvisor_runtime(name, sandbox_docker_image, canaries):
    """The same attacks under docker's gVisor runtime (the answer to kernel exploits)."""
    from harness.sandbox.docker import usable

    ok, reason = usable(sandbox_docker_image, "runsc")
    if not ok:
        pytest.skip(f"gVisor runtime unavailable: {reason}")
    limits = SandboxLimits(
        docker_image=sandbox_docker_image, docker_python=sys.executable, docker_runtime="runsc"
    )
    status, needle, _ = CASES[name]
    err = _attack(_prepare(name, canaries), "docker", limits)
    assert err.status == status and needle in err.message, err.message
    assert canaries["secret"] not in err.message and canaries["file"].read_text() == canaries["content"]
    assert canaries["server"].received == []


def test_call_time_is_measured_on_the_trusted_side(sandbox_backend, canaries):
    """lying_timing sleeps 200 ms per call and freezes every clock the worker has: the time the
    harness reports is still at least 200 ms, because it is measured around the call, outside."""
    backend, limits = sandbox_backend
    with open_session(ATTACKS / "lying_timing.py", backend=backend, limits=limits) as session:
        replies = [session.call(_inputs(), beta=0.1) for _ in range(2)]
    assert all(r.seconds >= 0.2 for r in replies), [r.seconds for r in replies]


LONG_NAMES = {
    "ascii 255 bytes": "x" * 252 + ".py",
    "unicode and spaces": ("Lösung mit Länge ✓ " * 20).encode()[:240].decode("utf-8", "ignore") + " ü.py",
    "no .py suffix": "y" * 255,
}


@pytest.mark.parametrize("label", sorted(LONG_NAMES))
def test_any_legal_file_name_works(label, sandbox_backend, canaries):
    backend, limits = sandbox_backend
    name = LONG_NAMES[label]
    assert len(name.encode()) <= 255
    path = canaries["dir"] / name
    path.write_bytes((ATTACKS / "long_name.py").read_bytes())
    with open_session(path, backend=backend, limits=limits) as session:
        reply = session.call(_inputs(), beta=0.1)
    assert session.name == path.stem and reply.losses.shape == (4,) and torch.isfinite(reply.losses).all()


@pytest.mark.jail
def test_jail_session_has_its_memory_and_pids_cgroups(canaries):
    """Where the memory and pids controllers are writable (root, cgroup v1 or v2), each jail session
    gets its own cgroups with the limits applied, removed when the session closes."""
    from harness.sandbox import cgroups
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    if not cgroups.memory_guard():
        pytest.skip("no writable memory cgroup controller here (unprivileged, or none offered)")
    limits = SandboxLimits(memory_bytes=3 << 30, processes=48)
    with open_session(ATTACKS / "threads.py", backend="jail", limits=limits) as session:
        lines = Path(f"/proc/{session.proc.pid}/cgroup").read_text().splitlines()
        mine = {ctl: path for _, ctls, path in (ln.split(":", 2) for ln in lines) for ctl in ctls.split(",")}
        assert "harness-sandbox-" in mine.get("memory", mine.get("", "")), lines
        root = cgroups._root("memory")
        folder = root / mine.get("memory", mine.get("")).lstrip("/")
        limit_file = folder / ("memory.max" if (folder / "memory.max").exists() else "memory.limit_in_bytes")
        assert int(limit_file.read_text()) == limits.memory_bytes
    assert not folder.exists(), "the session's cgroup outlived it"


# loss-made text (issue 18 items 8 and 9): the attack is contained like any other, and what it says
# comes back to the trusted side as data that no report, terminal or prompt can execute
TEXT_ATTACKS = {"terminal_escape": "invalid", "prompt_injection_stderr": "crash"}


@pytest.mark.parametrize("name", sorted(TEXT_ATTACKS))
def test_loss_made_text_stays_inert(name, sandbox_backend, canaries):
    from harness.text import clean_block, quote_for_prompt

    backend, limits = sandbox_backend
    with open_session(ATTACKS / f"{name}.py", backend=backend, limits=limits) as session:
        with pytest.raises(LossCallError) as info:
            session.call(_inputs(), beta=0.1)
        tail = session.stderr_tail()
    err = info.value
    assert err.status == TEXT_ATTACKS[name], err.message
    loss_text = err.message + "\n" + tail
    assert "\x1b" in loss_text or "```" in loss_text  # the hostile text really reached the trusted side
    shown = clean_block(loss_text)
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u202c" for c in shown)
    assert all(not line.startswith("/tmp/loss.py: VALID") for line in shown.splitlines()[1:])
    block = quote_for_prompt(loss_text).splitlines()
    fence = block[-1]  # the closing fence; the opening one adds an info string
    assert set(fence) == {"`"} and block[0].startswith(fence)
    assert not any(set(line.strip()) == {"`"} and len(line.strip()) >= len(fence) for line in block[1:-1])
    assert canaries["server"].received == []
