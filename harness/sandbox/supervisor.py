"""The worker's supervisor: ``python -m harness.sandbox.supervisor WORKER_ARGS...``, inside the jail.

Why it exists: from outside the jail (bubblewrap's init, docker's ``--init``) a worker killed by
signal N and a worker that called ``os._exit(128 + N)`` look the same, so an exit code chosen by the
loss could pose as a seccomp kill, an out-of-memory kill or a CPU timeout. The supervisor is the
worker's parent and is never touched by the loss: it reads a one-time token from stdin, makes itself
non-dumpable (the worker, same uid, can then neither read its memory nor trace it), forks and EXECS
the worker (a fresh address space that never held the token), and after ``waitpid`` reports the real
wait status as one line ``TOKEN exit N`` or ``TOKEN signal N`` on stderr. The worker cannot forge that
line without the token; if it kills the supervisor no line comes and the trusted side reports a
violation (harness.sandbox.client).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

TOKEN_BYTES = 32
PR_SET_DUMPABLE = 4


def report_line(token: str, status: int) -> bytes:
    """The supervisor's line for a ``waitpid`` status."""
    if os.WIFSIGNALED(status):
        return f"\n{token} signal {os.WTERMSIG(status)}\n".encode()
    return f"\n{token} exit {os.waitstatus_to_exitcode(status)}\n".encode()


def main(argv: list[str]) -> None:
    token = b""
    while len(token) < TOKEN_BYTES:
        chunk = os.read(0, TOKEN_BYTES - len(token))
        if not chunk:
            os._exit(2)
        token += chunk
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        os._exit(2)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.execv(sys.executable, [sys.executable, *argv])
    os.close(0)  # the protocol pipes belong to the worker alone: its death closes them
    os.close(1)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(2)
        except InterruptedError:
            continue
    os.write(2, report_line(token.decode("ascii", "replace"), status))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
