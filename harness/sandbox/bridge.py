"""The bridge between the trusted trainer and a loss running in a session (usually a jailed worker).

Each step the trainer sends detached (B,) tensors (and (B, T) ones to a per-token loss); the session
returns the per-example losses and the gradient of their mean with respect to every input that depends
on the policy (harness.vocabulary.DIFFERENTIABLE). ``BridgedMeanLoss`` is a custom autograd
Function whose forward is that mean and whose backward feeds the returned gradient into the policy's
backward pass. Because the gradient is of the MEAN, batch-statistics losses (DBAQL, AQL, AQFL: the
example-i loss depends on the whole micro-batch) are exact, which per-example gradients would not be.
"""

from __future__ import annotations

import torch

from harness.session import LossReply, LossSession
from harness.vocabulary import DIFFERENTIABLE


class BridgedMeanLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, session, beta, names, reply_box, *tensors):
        inputs = dict(zip(names, tensors, strict=True))
        reply: LossReply = session.call({k: v.detach() for k, v in inputs.items()}, beta, grad=True)
        reply_box.append(reply)
        ctx.names = names
        ctx.grads = reply.grads
        ctx.dtypes = [t.dtype for t in tensors]
        # the mean takes the policy inputs' dtype (never an integer input such as the lengths)
        out_dtype = next(t.dtype for n, t in inputs.items() if n in DIFFERENTIABLE)
        return reply.losses.float().mean().to(out_dtype)

    @staticmethod
    def backward(ctx, grad_output):
        out = [None, None, None, None]
        for name, dtype in zip(ctx.names, ctx.dtypes, strict=True):
            g = ctx.grads.get(name) if name in DIFFERENTIABLE else None
            out.append(None if g is None else (g * grad_output).to(dtype))
        return tuple(out)


def bridged_mean_loss(session: LossSession, inputs: dict[str, torch.Tensor], beta: float):
    """Mean loss over the batch, differentiable w.r.t. the policy inputs; also returns the reply.

    Only the inputs the loss declares are sent. Returns ``(mean_loss, reply)`` where ``reply.losses``
    are the per-example losses (detached) for logging.
    """
    names = tuple(n for n in session.params if n in inputs)
    box: list[LossReply] = []
    mean = BridgedMeanLoss.apply(session, float(beta), names, box, *(inputs[n] for n in names))
    return mean, box[0]


def renew(session) -> None:
    """Start ``session`` afresh when it can (harness.sandbox.seeds.SeedSessions: a new sandbox session
    for the next seed); a bare session keeps its state. The trainer calls it when a seed starts."""
    fresh = getattr(session, "renew", None)
    if callable(fresh):
        fresh()
