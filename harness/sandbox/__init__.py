"""The sandbox: untrusted loss code never runs in a trusted process (threat model: jail.py).

``open_session(path)`` returns a LossSession whose loss runs in a jailed worker. Backends are picked
by name from ``BACKENDS``: ``jail`` (bubblewrap + seccomp, the default), ``docker`` (hardened
container, optionally gVisor) and ``none`` (in-process, trusted files only, needs ``trust=True``).
``auto`` means the jail; when it cannot run, open_session refuses instead of running in-process.
"""

from __future__ import annotations

from harness.registry import Registry
from harness.sandbox.limits import SandboxLimits


class SandboxUnavailable(RuntimeError):
    """No backend that may run this loss is usable here; the message says what to install or pass."""


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
        return InProcessSession(load_loss(loss_from_bytes(path, source)))
    except Exception as e:  # a broken trusted file is still a candidate failure, not a harness crash
        raise LossCallError("invalid", f"{type(e).__name__}: {e}") from e


BACKENDS: Registry = Registry("sandbox backend")
BACKENDS.add("jail", _open_jail, "bubblewrap namespaces + seccomp + rlimits (default on Linux)")
BACKENDS.add("docker", _open_docker, "hardened docker container (optionally gVisor via runsc)")
BACKENDS.add("none", _open_none, "in-process, trusted files only (needs trust=True)")


def open_session(path, *, backend: str = "auto", limits: SandboxLimits | None = None, trust: bool = False):
    """Open a session on the loss file at ``path`` (or a ``harness.lossfile.LossFile`` already read,
    whose bytes are then the ones run); use it as a context manager.

    Raises LossCallError("invalid") for a file that breaks the loss contract, SandboxUnavailable when
    the chosen backend cannot run here (never falls back to running the loss in-process).
    """
    from harness.lossfile import LossFile, LossFileError, read_loss
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
    except LossFileError as e:
        raise LossCallError("invalid", str(e)) from e
    return factory(loss.path, loss.data, loss.sha256, loss.signature.params, limits, trust)
