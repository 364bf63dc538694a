"""A LossSession that runs the loss file in a separate, spawned child process with timeouts.

This is process isolation, not a sandbox: it keeps a broken loss (exceptions, hangs, crashes, stray
prints, memory blow-ups up to an address-space limit) out of the calling process, but it does not stop
hostile code from reading files or using the network. ``harness check`` uses it only when the sandbox
(``harness.sandbox.open_session``) is not available in this install, and says so in its report.

Messages are ``torch.save`` buffers in both directions; the parent reads the child's with
``weights_only=True`` so a reply can only hold tensors, numbers and strings.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import resource

import torch

from harness.session import LossCallError, LossReply

MEMORY_LIMIT_BYTES = 4 << 30  # RLIMIT_AS of the child; torch alone maps about 1 GiB


def _dump(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _load(data: bytes):
    return torch.load(io.BytesIO(data), weights_only=True)


def _serve(path: str, conn) -> None:
    """Child side: load the loss, answer hello, then serve calls until the pipe closes."""
    os.dup2(2, 1)  # the loss's prints go to stderr, never into the parent's stdout (e.g. --json)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    from harness.lossfile import load_loss
    from harness.session import InProcessSession

    try:
        session = InProcessSession(load_loss(path))
    except MemoryError:
        conn.send_bytes(_dump({"ok": False, "status": "oom", "message": "out of memory while loading the file"}))
        return
    except BaseException as e:  # the file itself failed at import: report it as data
        conn.send_bytes(_dump({"ok": False, "status": "invalid", "message": f"loading failed: {type(e).__name__}: {e}"}))
        return
    conn.send_bytes(_dump({"ok": True, "name": session.name, "sha256": session.sha256, "params": list(session.params)}))
    while True:
        try:
            request = _load(conn.recv_bytes())
        except EOFError:
            return
        try:
            reply = session.call(request["inputs"], request["beta"], request["grad"])
            answer = {"ok": True, "losses": reply.losses, "grads": reply.grads, "seconds": reply.seconds}
        except LossCallError as e:
            status = "oom" if isinstance(e.__cause__, MemoryError) else e.status
            answer = {"ok": False, "status": status, "message": e.message}
        except BaseException as e:  # SystemExit, KeyboardInterrupt raised by the loss
            answer = {"ok": False, "status": "invalid", "message": f"{type(e).__name__}: {e}"}
        conn.send_bytes(_dump(answer))


class ChildProcessSession:
    """Runs a loss file in a spawned child process; a call that takes too long kills the child."""

    def __init__(self, path, *, call_timeout_s: float = 30.0, start_timeout_s: float = 120.0):
        self.call_timeout_s = call_timeout_s
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(str(path), child_conn), daemon=True)
        self._proc.start()
        child_conn.close()
        hello = self._receive(start_timeout_s, "loading the loss file")
        self.name, self.sha256, self.params = hello["name"], hello["sha256"], tuple(hello["params"])

    def _receive(self, timeout: float, doing: str) -> dict:
        if not self._conn.poll(timeout):
            self.close()
            raise LossCallError("timeout", f"{doing} took longer than {timeout:g} s; the loss process was killed")
        try:
            message = _load(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self.close()
            raise LossCallError("crash", f"the loss process died while {doing} (exit code {code})") from None
        except Exception as e:  # a malformed reply: not something the harness's own child would send
            self.close()
            raise LossCallError("crash", f"unreadable reply from the loss process: {e}") from None
        if not isinstance(message, dict) or not message.get("ok"):
            status = message.get("status", "crash") if isinstance(message, dict) else "crash"
            raise LossCallError(status, message.get("message", "") if isinstance(message, dict) else "")
        return message

    def call(self, inputs: dict[str, torch.Tensor], beta: float, grad: bool = True) -> LossReply:
        if not self._proc.is_alive():
            raise LossCallError("crash", "the loss process is no longer running")
        self._conn.send_bytes(_dump({"inputs": {k: v.detach() for k, v in inputs.items()}, "beta": float(beta), "grad": grad}))
        reply = self._receive(self.call_timeout_s, "computing the loss")
        losses = reply.get("losses")
        if not isinstance(losses, torch.Tensor):
            raise LossCallError("crash", "the loss process replied without a loss tensor")
        return LossReply(losses, dict(reply.get("grads") or {}), float(reply.get("seconds", 0.0)))

    def close(self) -> None:
        self._conn.close()
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
