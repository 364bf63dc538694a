"""Run statuses shared by the sandbox, bench records, boards and discovery (a failure is never a
score), and the one mapping from a failure to its status.

Kept free of heavy imports: reading records and rendering boards must not import torch."""

from __future__ import annotations

import traceback

from harness.lossfile import LossFileError

STATUSES = ("ok", "invalid", "sandbox_violation", "timeout", "oom", "crash", "diverged", "error")
# diverged: training with the candidate produced a non-finite loss, gradient or weight (a candidate
# failure, with the step); error: a fault of the harness itself, never of a candidate.
SANDBOX_STATUSES = ("sandbox_violation", "timeout", "oom", "crash")  # how a sandboxed worker can end
# an evaluation (discovery) whose bench ended without failing but whose gate metric was not measured
# (every seed censored or unresolved at the KL budget): no score, never a failure of the candidate's code
UNMEASURED = "unmeasured"


class LossCallError(RuntimeError):
    """A loss call failed. ``status`` is one of STATUSES; ``message`` is the real error text. (Raised by
    sessions, harness.session; defined here so that the mapping below needs nothing above this module.)"""

    def __init__(self, status: str, message: str):
        super().__init__(f"[{status}] {message}")
        self.status = status
        self.message = message

    def __reduce__(self):  # crosses process boundaries intact (seed worker processes)
        return type(self), (self.status, self.message)


class DeadlineExceeded(RuntimeError):
    """An evaluation ran past its deadline and was interrupted (discovery's per-candidate deadline):
    the candidate's ``timeout``."""


def candidate_failure(exc: BaseException) -> tuple[str, str] | None:
    """(status, error text) when ``exc`` is a candidate's failure, None when it is a harness fault
    that must propagate.

    A broken loss file is ``invalid``; a failed loss call carries its status (the sandbox's, or
    ``diverged`` from the training guard, harness.train); any other RuntimeError, ValueError or
    FloatingPointError raised by training or evaluation code is ``error`` with the traceback kept."""
    if isinstance(exc, LossFileError):
        return "invalid", str(exc)
    if isinstance(exc, LossCallError):
        return exc.status, exc.message
    if isinstance(exc, DeadlineExceeded):
        return "timeout", str(exc)
    if isinstance(exc, RuntimeError | ValueError | FloatingPointError):
        return "error", f"{type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc, limit=4))}"
    return None


def check_status(errors: list[str]) -> str:
    """The status of a failed ``harness check``: the sandbox status that stopped it ("timeout: ...",
    "oom: ..."), else ``invalid``."""
    for status in SANDBOX_STATUSES:
        if any(e.startswith(f"{status}:") or e.startswith(f"{status} ") for e in errors):
            return status
    return "invalid"
