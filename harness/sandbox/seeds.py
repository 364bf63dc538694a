"""A fresh sandbox session for each seed, within the time budget the check set.

``SeedSessions`` is a LossSession over a ``SessionSpec`` (the loss bytes read once, the backend, the
trust, the limits): it opens a new session (a new worker process, or for the trusted in-process
backend a fresh execution of the file) at the first call after each ``renew()``, and the trainer
renews it when a seed starts (harness.train.BridgedDPOTrainer, harness.sandbox.bridge.renew). The check runs in a session of its
own (harness.bench). So nothing a loss keeps in its process reaches from the check into training or
from one seed into the next, and a seed's numbers are the same whichever process trains it, after
whatever ran before (issue 29 item 9: a flag set by the check's probes turned DPO into reversed DPO
in one process and not in another). State a loss keeps within one seed's training is its own.

Time (harness.sandbox.limits.TimeBudget): each session's per-call limit is relative to the check's
fastest call (with a floor), its session limit is the seed's wall budget (and the run's deadline);
the summed loss time of a seed is checked after every call. The limits kill a jailed worker at the
limit; after a call returns, the same limits are checked again here, which also bounds the
in-process backend. Past any of them the call raises LossCallError("timeout") naming the limit.
"""

from __future__ import annotations

import dataclasses
import time

from harness.sandbox.limits import SandboxLimits, TimeBudget
from harness.session import LossCallError, LossReply


class SeedSessions:
    """A LossSession whose sandbox session is new for every seed (``renew``), within a TimeBudget."""

    def __init__(self, spec):
        self.spec = spec
        self.name, self.backend = spec.loss.name, spec.backend
        self.sha256, self.params = spec.loss.sha256, spec.loss.signature.params
        self.hyperparameters = dict(spec.hyperparameters or {})  # every session it opens runs at this setting
        self.budget: TimeBudget = spec.budget or TimeBudget()
        self.sessions_opened = 0
        self._session = None
        self._calls, self._loss_seconds = 0, 0.0

    # -- the LossSession interface ------------------------------------------------------------
    def call(self, inputs, beta: float, grad: bool = True) -> LossReply:
        if self._session is None:
            self._session = self._open()
        try:
            reply = self._session.call(inputs, beta, grad)
        except LossCallError as e:
            if e.status == "timeout":
                raise LossCallError("timeout", f"{e.message}\n({self._limits_text()})") from None
            raise
        self._calls += 1
        self._loss_seconds += reply.seconds
        self._check_time(reply.seconds)
        return reply

    def renew(self) -> None:
        """End the current session; the next call opens a new one (a seed starts)."""
        self.close()
        self._calls, self._loss_seconds = 0, 0.0

    def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- time ---------------------------------------------------------------------------------
    def limits(self) -> SandboxLimits:
        """The limits of the next seed's session: the spec's, with the per-call limit and the session
        limit of the budget (and the deadline) when they are tighter."""
        base = self.spec.limits or SandboxLimits()
        call = self.budget.call_limit_s(self.spec.check_call_s)
        session = min(base.session_timeout_s, self.budget.seed_wall_s, self._left())
        return dataclasses.replace(base, call_timeout_s=min(base.call_timeout_s, call or base.call_timeout_s),
                                   session_timeout_s=max(session, 1e-3))

    def _left(self) -> float:
        return float("inf") if self.spec.deadline is None else self.spec.deadline - time.time()

    def _open(self):
        if self._left() <= 0:
            raise LossCallError("timeout", f"the evaluation's deadline passed ({self._limits_text()})")
        self.sessions_opened += 1
        return self.spec.open(limits=self.limits())

    def _check_time(self, seconds: float) -> None:
        call = self.budget.call_limit_s(self.spec.check_call_s)
        budget = self.budget.seed_loss_budget_s(self.spec.check_call_s, self._calls)
        why = None
        if call is not None and seconds > call:
            why = f"a loss call took {seconds:.2f} s, more than the per-call limit of {call:.3g} s"
        elif budget is not None and self._loss_seconds > budget:
            why = (f"the seed's loss calls took {self._loss_seconds:.2f} s in {self._calls} calls, more than its "
                   f"budget of {budget:.3g} s")
        elif self._left() <= 0:
            why = "the evaluation's deadline passed"
        if why is not None:
            self.close()
            raise LossCallError("timeout", f"{why} ({self._limits_text()})")

    def _limits_text(self) -> str:
        b, fastest = self.budget, self.spec.check_call_s
        if fastest is None:
            return f"no check speed measured; seed wall limit {b.seed_wall_s:g} s"
        return (f"the check's fastest call took {1000 * fastest:.2f} ms; a training call may take {b.call_factor:g}x "
                f"that, at least {b.call_floor_s:g} s; a seed's loss calls {b.seed_loss_factor:g}x per call, at "
                f"least {b.seed_loss_floor_s:g} s; a seed's session {b.seed_wall_s:g} s")

    def as_dict(self) -> dict:
        """What the record states about the time limits and sessions (``sandbox.time_budget``)."""
        return {**self.budget.to_dict(), "check_call_s": self.spec.check_call_s,
                "call_limit_s": self.budget.call_limit_s(self.spec.check_call_s),
                "deadline": self.spec.deadline, "fresh_session_per_seed": True}
