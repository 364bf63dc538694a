"""The loss-session interface: how trusted code asks a loss for values and gradients.

Every caller (``harness check``, the trainer's bridge, discovery) talks to a loss through a
``LossSession``. The sandbox backends (harness.sandbox) implement it with a jailed worker process;
``InProcessSession`` implements it for trusted code (built-ins in tests, the ``none`` backend).

A call sends detached tensors and gets back per-example losses and, when asked, the gradient of
their MEAN with respect to each input that depends on the policy (harness.vocabulary.DIFFERENTIABLE;
the trainer takes the mean, so that is what the policy's backward pass needs; batch-statistics losses
make the Jacobian non-diagonal, so per-example gradients would not be enough). A session is opened
for one setting of the loss's hyper-parameters (``hyperparameters``, checked against the declared
ranges on the trusted side), which every call passes to the loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import torch

from harness.hyperparams import resolve
from harness.lossfile import Loss
from harness.status import STATUSES, LossCallError  # noqa: F401  (re-exported: the documented names)
from harness.vocabulary import DIFFERENTIABLE


@dataclass
class LossReply:
    losses: torch.Tensor  # (B,), float
    grads: dict[str, torch.Tensor] = field(default_factory=dict)  # differentiable input -> d mean / d input
    seconds: float = 0.0  # time spent inside the loss (forward + backward)


class LossSession(Protocol):
    name: str
    backend: str  # the sandbox backend that runs the loss ("jail", "docker", "none")
    sha256: str
    params: tuple[str, ...]
    hyperparameters: dict  # name -> value, every declared one (defaults filled in); {} when none

    def call(self, inputs: dict[str, torch.Tensor], beta: float, grad: bool = True) -> LossReply: ...

    def close(self) -> None: ...


def compute_loss_and_grads(loss: Loss, inputs: dict[str, torch.Tensor], beta: float, grad: bool,
                           hyperparameters: dict | None = None) -> LossReply:
    """Run a loaded loss on detached copies of ``inputs``; shared by in-process and jailed workers."""
    t0 = time.perf_counter()
    leaves = {}
    for name, t in inputs.items():
        leaf = t.detach().clone()
        if grad and name in DIFFERENTIABLE and leaf.is_floating_point():
            leaf.requires_grad_(True)
        leaves[name] = leaf
    with torch.enable_grad() if grad else torch.no_grad():
        out = loss(**leaves, beta=beta, **(hyperparameters or {}))
        if not isinstance(out, torch.Tensor):
            raise LossCallError("invalid", f"the loss returned {type(out).__name__}, expected a tensor of shape (B,)")
        grads: dict[str, torch.Tensor] = {}
        if grad:
            wanted = [n for n in DIFFERENTIABLE if n in loss.params]
            if not out.requires_grad:
                raise LossCallError("invalid", "the loss output does not depend on the policy log-probs (no gradient)")
            got = torch.autograd.grad(out.float().mean(), [leaves[n] for n in wanted], allow_unused=True)
            for n, g in zip(wanted, got, strict=True):
                grads[n] = torch.zeros_like(leaves[n]) if g is None else g.detach()
    return LossReply(out.detach(), grads, time.perf_counter() - t0)


class InProcessSession:
    """Runs a TRUSTED loss in this process (the ``none`` backend and tests)."""

    backend = "none"

    def __init__(self, loss: Loss, hyperparameters: dict | None = None):
        self.loss = loss
        self.name = loss.name
        self.sha256 = loss.sha256
        self.params = loss.params
        self.hyperparameters = resolve(loss.hyperparameters, hyperparameters, f"loss {loss.name!r}")

    def call(self, inputs: dict[str, torch.Tensor], beta: float, grad: bool = True) -> LossReply:
        try:
            return compute_loss_and_grads(self.loss, inputs, beta, grad, self.hyperparameters)
        except LossCallError:
            raise
        except Exception as e:  # a loss that raises is data, not a crash of the caller
            raise LossCallError("invalid", f"{type(e).__name__}: {e}") from e

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
