"""The sandbox's own error, in a module of its own so that the backends (jail, docker) raise it without
importing the package that registers them."""

from __future__ import annotations


class SandboxUnavailable(RuntimeError):
    """No backend that may run this loss is usable here; the message says what to install or pass."""
