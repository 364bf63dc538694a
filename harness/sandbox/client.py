"""The trusted side of a worker session: launch, talk over pipes with deadlines, judge every reply.

Backends (jail, docker) only build the command line; this module owns the conversation. The
worker is treated as hostile: replies are parsed by harness.sandbox.wire with bounded sizes, their
names, shapes, dtypes and finiteness are checked here, stderr is drained by a thread that keeps only
its tail and kills a worker that writes too much, and every read and write has a deadline (per call
and per session). A dead worker is classified from how it died: SIGSYS = seccomp refusal
(sandbox_violation), SIGXCPU = CPU limit (timeout), SIGKILL not sent by us = out of memory, other
signals = crash.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import torch

from harness.sandbox import wire
from harness.sandbox.limits import SandboxLimits
from harness.session import LossCallError, LossReply
from harness.vocabulary import DIFFERENTIABLE, INPUTS, TENSOR_INPUTS

_SIGNAL_STATUS = {
    signal.SIGSYS: (
        "sandbox_violation",
        "made a forbidden system call (exec, fork, socket, shared memory, ...) and was killed by the seccomp filter",
    ),
    signal.SIGXCPU: ("timeout", "ran out of CPU time (RLIMIT_CPU)"),
    signal.SIGKILL: (
        "oom",
        "was killed by SIGKILL that the harness did not send (out of memory, or a loss that ignored SIGXCPU)",
    ),
}
_REPORT = re.compile(rb"([0-9a-f]{32}) (exit|signal) (-?[0-9]{1,4})\n")


class NonFiniteReply(LossCallError):
    """The loss answered NaN or inf (status ``invalid``; training reports it as ``diverged``)."""


class _Deadline(Exception):
    pass


def classify_exit(how: str, number: int) -> tuple[str, str]:
    """(status, reason) for a worker that ended on its own: ``how`` is "signal" or "exit", as its
    supervisor read it from waitpid (an exit code is never taken for a signal, whatever its value)."""
    if how == "signal":
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        status, reason = _SIGNAL_STATUS.get(number, ("crash", f"died from {name}"))
        return status, f"the worker {reason} ({name})"
    return "crash", f"the worker exited unexpectedly with code {number}"


class WorkerSession:
    """A LossSession backed by a worker process speaking harness.sandbox.wire on stdin/stdout."""

    hyperparameters: dict = {}  # noqa: RUF012  (replaced, never mutated: harness.sandbox.open_session sets it)

    def __init__(
        self,
        cmd: list[str],
        *,
        limits: SandboxLimits,
        name: str,
        sha256: str,
        params: tuple[str, ...],
        backend: str,
        env: dict[str, str],
        pass_fds: tuple[int, ...] = (),
        on_kill: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
        oom_killed: Callable[[], bool] | None = None,
    ):
        self.limits, self.backend, self._on_kill, self.name = limits, backend, on_kill, name
        self._on_close, self._oom_killed = on_close, oom_killed
        self._token = secrets.token_hex(16).encode()  # for the supervisor's report (supervisor.py)
        self._expected = (sha256, tuple(params))
        self._tail, self._stderr_total, self._stderr_overflow = bytearray(), 0, False
        self._dead: LossCallError | None = None
        self._killed_for: tuple[str, str] | None = None
        self.started = time.monotonic()
        self._session_deadline = self.started + limits.session_timeout_s
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            pass_fds=pass_fds,
            start_new_session=True,
        )
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._drain = threading.Thread(target=self._drain_stderr, name="sandbox-stderr", daemon=True)
        self._drain.start()
        try:
            self._write(self._token, self._session_deadline)
            self._hello()
        except BaseException:
            self.close()  # reap the worker: no caller holds this half-made session to close it
            raise

    # -- the LossSession interface ------------------------------------------------------------
    def call(self, inputs: dict[str, torch.Tensor], beta: float, grad: bool = True) -> LossReply:
        shapes, device, send = self._check_inputs(inputs)
        batch = next(iter(shapes.values()))[0]
        want = [n for n in DIFFERENTIABLE if n in self.params] if grad else []
        header = {"kind": "call", "beta": float(beta), "grad": bool(grad)}
        if self.hyperparameters:  # left out otherwise (wire.OPTIONAL): the sequence-level frame is unchanged
            header["hyper"] = dict(self.hyperparameters)
        frame = wire.encode_frame(header, send)
        # a reply holds the losses and one gradient per differentiable input: never more bytes than that
        limit = 8 * (batch + sum(math.prod(shapes[n]) for n in want))
        started = time.perf_counter()  # the call's time is measured here; the worker's word is not asked
        header, tensors = self._exchange(frame, self.limits.call_timeout_s, limit)
        seconds = time.perf_counter() - started
        if header["kind"] == "error":
            self._error_frame(header)
        if header["kind"] != "reply":
            self._violation(f"unexpected frame kind {header['kind'][:40]!r} in answer to a call")
        losses = self._checked(tensors, "losses", (batch,))
        grads = {n: self._checked(tensors, f"grad:{n}", shapes[n]) for n in want}
        if set(tensors) != {"losses", *(f"grad:{n}" for n in want)}:
            self._violation(f"reply carries unexpected tensors {sorted(tensors)}")
        dtypes = dict(send)
        return LossReply(
            losses.to(device), {n: g.to(device, dtypes[n].dtype) for n, g in grads.items()}, seconds
        )

    def close(self) -> None:
        if self.proc.poll() is None and self._dead is None:
            try:
                self._write(wire.encode_frame({"kind": "close"}), time.monotonic() + 1.0)
                self.proc.wait(timeout=1.0)
            except (OSError, _Deadline, subprocess.TimeoutExpired):
                pass
        self._kill()
        self.proc.wait()
        self._drain.join(timeout=5.0)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
        if self._dead is None:
            self._dead = LossCallError("crash", "the session is closed")

    def stderr_tail(self) -> str:
        """The end of the worker's stderr (the supervisor's report line removed)."""
        return _REPORT.sub(b"", bytes(self._tail)).decode("utf-8", "replace").rstrip("\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- start-up -----------------------------------------------------------------------------
    def _hello(self) -> None:
        header, _ = self._exchange(b"", self.limits.start_timeout_s)
        if header["kind"] == "error":
            self._error_frame(header, fatal=True)
        if header["kind"] != "hello":
            self._violation(f"expected a hello frame, got {header['kind'][:40]!r}")
        params = header.get("params")
        if (
            header.get("sha256") != self._expected[0]
            or not isinstance(params, list)
            or tuple(params) != self._expected[1]
        ):
            self._violation("the worker's hello does not match the loss file the harness read")
        # the hello comes after the loss file's top level ran: only facts checked against the file count
        self.sha256, self.params = self._expected
        self.seccomp_mode = header.get("seccomp")
        self.start_seconds = time.monotonic() - self.started

    # -- checks -------------------------------------------------------------------------------
    def _declared(self) -> tuple[tuple[str, ...], bool]:
        """(the tensor inputs the loss declares, in vocabulary order; whether any is per-token), once."""
        if getattr(self, "_declared_for", None) is not self.params:
            names = tuple(n for n in TENSOR_INPUTS if n in self.params)
            self._declared_cache = (names, any(INPUTS[n].per_token for n in names))
            self._declared_for = self.params
        return self._declared_cache

    def _check_inputs(self, inputs):
        """(shape per input sent, device, [(name, tensor)]): the declared tensor inputs, checked. Sequence
        inputs share one shape (B,), per-token ones one shape (B, T)."""
        names, per_token = self._declared()
        missing = [p for p in names if p not in inputs]
        if missing:
            raise ValueError(f"loss {self.name!r} needs input(s) {', '.join(missing)}")
        send = [(n, inputs[n].detach()) for n in names]
        shapes = {n: tuple(t.shape) for n, t in send}
        if per_token:
            kinds = {k: {s for n, s in shapes.items() if INPUTS[n].per_token is k} for k in (False, True)}
            ok = all(len(v) <= 1 for v in kinds.values()) and all(len(s) == 1 + k for k, v in kinds.items() for s in v)
            if ok and len({s[0] for s in shapes.values()}) != 1:
                raise ValueError(f"per-token and sequence inputs disagree on the batch size: {shapes}")
            tokens = [s[1] for s in kinds[True]]
            if ok and not 1 <= tokens[0] <= wire.MAX_TOKENS:
                raise ValueError(f"{tokens[0]} tokens per completion, outside 1..{wire.MAX_TOKENS} (wire.MAX_TOKENS)")
        else:  # the sequence-level fast path
            distinct = set(shapes.values())
            ok = len(distinct) == 1 and len(next(iter(distinct))) == 1
        if not ok:
            raise ValueError(f"loss inputs must share one shape (B,), and per-token ones (B, T); got {shapes}")
        batch = send[0][1].shape[0]
        if not 1 <= batch <= self.limits.max_batch:
            raise ValueError(
                f"batch size {batch} outside 1..{self.limits.max_batch} (SandboxLimits.max_batch)"
            )
        for n, t in send:
            if t.dtype not in wire.DTYPE_NAMES:
                raise ValueError(
                    f"input {n} has dtype {t.dtype}; the sandbox carries {', '.join(wire.DTYPES)}"
                )
        return shapes, send[0][1].device, send

    def _checked(self, tensors, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        t = tensors.get(name)
        if t is None:
            self._violation(f"reply lacks tensor {name!r}")
        if wire.DTYPE_NAMES[t.dtype] not in wire.FLOAT_DTYPES or tuple(t.shape) != shape:
            self._violation(
                f"reply tensor {name!r} is {wire.DTYPE_NAMES[t.dtype]}{tuple(t.shape)}, "
                f"expected a float tensor of shape {shape}"
            )
        bad = (~torch.isfinite(t)).nonzero()
        if len(bad):
            what = "losses" if name == "losses" else f"gradient w.r.t. {name[5:]}"
            where = bad[:8, 0].tolist()
            raise NonFiniteReply(
                "invalid",
                f"the loss produced non-finite {what} at example(s) "
                f"{where} (e.g. {t[tuple(bad[0])].item()})",
            )
        return t

    def _error_frame(self, header: dict, fatal: bool = False):
        message, status = header["message"], header["status"]  # both checked by wire.SCHEMAS
        if fatal:  # the worker exits after a start-up error
            self._fail(status, message, kill=True)
        raise LossCallError(status, message)

    def _violation(self, message: str):
        self._fail("sandbox_violation", f"the worker broke the wire protocol: {message}", kill=True)

    # -- the conversation ----------------------------------------------------------------------
    def _exchange(self, frame: bytes, timeout: float, max_bytes: int | None = None):
        if self._dead is not None:
            raise LossCallError(self._dead.status, f"the session's worker is gone: {self._dead.message}")
        deadline = min(time.monotonic() + timeout, self._session_deadline)
        try:
            if frame:
                self._write(frame, deadline)
            return wire.read_frame(lambda n: self._read_exact(n, deadline), self.limits.max_batch,
                                   max_bytes=max_bytes)
        except wire.TruncatedFrame as e:  # a worker killed mid-write is reported by how it died
            status, reason = self._death()
            if status == "crash" and reason.startswith("the worker exited"):
                self._violation(f"{e} and the worker exited by itself ({reason})")
            self._fail(status, reason, kill=True)
        except wire.WireError as e:
            self._violation(str(e))
        except _Deadline:
            which = "session" if deadline == self._session_deadline else "call"
            limit = self.limits.session_timeout_s if which == "session" else timeout
            self._killed_for = ("timeout", f"no answer within the {which} wall-clock limit of {limit:g} s")
            self._fail(*self._killed_for, kill=True)
        except (EOFError, BrokenPipeError):
            self._fail(*self._death(), kill=True)

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline
            _, ready, _ = select.select([], [self._in], [], left)
            if ready:
                try:
                    view = view[os.write(self._in, view) :]
                except BlockingIOError:
                    continue

    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline
            ready, _, _ = select.select([self._out], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._out, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _death(self) -> tuple[str, str]:
        """How the worker ended, from the trusted side only: our own kill, the memory cgroup's OOM
        counter, or the supervisor's token-signed waitpid report. The exit code of the process we
        started (bubblewrap's or docker's) is never read: a loss can choose it."""
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            return "crash", "the worker closed its reply pipe but did not exit"
        if self._killed_for:
            return self._killed_for
        self._drain.join(timeout=5.0)
        if self._oom_killed is not None and self._oom_killed():
            return "oom", "the worker was killed by its memory cgroup (out of memory)"
        reports = [m for m in _REPORT.finditer(bytes(self._tail)) if m.group(1) == self._token]
        if not reports:
            return "sandbox_violation", (
                "the worker ended without its supervisor's report (the supervisor was killed), so how it "
                "ended cannot be trusted"
            )
        how, number = reports[-1].group(2).decode(), int(reports[-1].group(3))
        return classify_exit(how, number)

    def _fail(self, status: str, message: str, kill: bool):
        if kill:
            self._kill()
        self._drain.join(timeout=2.0)
        if self._stderr_overflow:
            status, message = (
                "sandbox_violation",
                (
                    f"the worker wrote more than {self.limits.stderr_bytes} "
                    "bytes to stderr/stdout and was killed"
                ),
            )
        tail = self.stderr_tail()
        self._dead = LossCallError(status, f"{message}\n--- stderr tail ---\n{tail}" if tail else message)
        raise self._dead

    def _kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._on_kill is not None:
            self._on_kill()

    def _drain_stderr(self) -> None:
        fd, keep = self.proc.stderr.fileno(), self.limits.stderr_tail_bytes
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._stderr_total += len(chunk)
            self._tail += chunk
            del self._tail[:-keep]
            if self._stderr_total > self.limits.stderr_bytes and not self._stderr_overflow:
                self._stderr_overflow = True
                self._killed_for = ("sandbox_violation", "stderr limit exceeded")
                self._kill()
