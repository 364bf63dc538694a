"""Where a trajectory reaches a KL budget, without inventing numbers.

The matched-KL verdict reads a seed's per-prompt scores where KL(policy || reference) first reaches
the budget. Checkpoints are ``checkpoint_every`` steps apart; between two of them the score is
linearly interpolated in KL only when the bracket is narrow:

    MAX_BRACKET_KL = 0.5 nats.

Why 0.5: linear interpolation of a smooth curve f over a bracket of width w errs by at most
w^2 / 8 * max|f''| (the linear-interpolation remainder). On the smooth trajectories of the committed
tiny board (KL < 6 nats, second differences of win rate against KL, 50 seeds) the median |f''| is
0.22 per nat^2 (75th percentile 0.6), so a 0.5-nat bracket errs by <= 0.007 at the median and
<= 0.019 at the 75th percentile, within one seed's sampling SE of a win rate (~0.015 with 256
prompts); a 1-nat bracket would err by up to 0.03-0.08. Brackets on that board were 0.3-1.2 nats
wide on stable losses and jumped 2-44 nats on unstable ones.

A wider bracket is never interpolated: it is evaluated densely. During training the weights of every
optimizer step since the last checkpoint are kept in memory (the tiny model is ~1.5 MB), so when a
checkpoint shows that KL jumped across a budget by more than the bound, the bracket is bisected on
that run's own intermediate weights (``refine``) until it is at most MAX_BRACKET_KL wide. This gives
exactly what a deterministic replay from step 0 with evaluation every step would give (the same
weights, the same evaluation seed), without re-training.

Within one optimizer step. KL can cross the budget inside a single step: on DPO seed 2 of the board
the estimate went 1.25 -> 1.78 -> 2.53 -> 3.00 nats over steps 71-74, while six independent KL estimates
of each of those models (1,024 samples each) scattered by only 0.05-0.14 nats (SD), so the jumps are the
training's, not the estimator's noise. Bisection then continues on fractional steps: the weights
theta_t + a (theta_{t+1} - theta_t), a in (0, 1). For AdamW (what training uses) the update is linear in
the learning rate given the step's gradient and moments, theta_{t+1} = theta_t (1 - lr wd) - lr u_t, so
these weights are exactly the model that step t+1 produces with its learning rate scaled by a: weights
the run's own last step would have given at a smaller step size, evaluated for real, not an invented
score (they are not weights the run itself passed through, which is why they are used only inside a
single step). Steps are halved down to ``1 / 2**substep_bisections`` of
a step; a crossing still wider than the bound there leaves the seed ``unresolved``; a seed that never
reaches the budget is ``censored``. Neither has a measured value at the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_BRACKET_KL = 0.5  # nats; see the module doc
SUBSTEP_BISECTIONS = 4  # halvings of one optimizer step (down to 1/16 of a step); see the module doc

MEASURED, CENSORED, UNRESOLVED = "measured", "censored", "unresolved"


@dataclass(frozen=True)
class Crossing:
    """How a trajectory meets one budget.

    ``status`` MEASURED: ``weight`` a in [0, 1] interpolates prev -> cur (score = (1-a) prev + a cur);
    CENSORED: never reached (prev = cur = the last checkpoint); UNRESOLVED: ``reason`` says why;
    ``jump``: a bracket wider than the bound, to be bisected by ``refine`` (internal state)."""

    status: str
    prev: object
    cur: object
    weight: float = 0.0
    reason: str = ""
    refined: int = 0  # intermediate steps evaluated inside this bracket (dense evaluation)

    @property
    def step(self) -> float:
        return self.prev.step + self.weight * (self.cur.step - self.prev.step)

    def scores(self, name: str) -> np.ndarray | None:
        """Per-prompt array ``name`` ("win", "reward", ...) at the budget, or None when not measured."""
        if self.status != MEASURED:
            return None
        a, b = getattr(self.prev, name), getattr(self.cur, name)
        return (1 - self.weight) * a + self.weight * b

    def summary(self) -> dict:
        return {"status": self.status, "step": None if self.status != MEASURED else round(self.step, 3),
                "bracket_steps": [_step(self.prev.step), _step(self.cur.step)],
                "bracket_kl": [round(self.prev.kl, 4), round(self.cur.kl, 4)],
                "dense_checkpoints": self.refined, **({"reason": self.reason} if self.reason else {})}


def _step(step: float) -> float | int:
    """A whole step as an int (as records always held), a fractional one to 4 decimals."""
    return int(step) if float(step).is_integer() else round(float(step), 4)


def _measured(prev, cur, budget: float, refined: int = 0) -> Crossing:
    span = cur.kl - prev.kl
    a = 1.0 if span <= 0 else min(1.0, max(0.0, (budget - prev.kl) / span))
    return Crossing(MEASURED, prev, cur, a, refined=refined)


def locate(trajectory: list, budget: float, bound: float = MAX_BRACKET_KL) -> Crossing:
    """The first bracket (prev, cur) with cur.kl >= budget; MEASURED when at most ``bound`` nats wide,
    else ``jump``; CENSORED when no checkpoint reaches the budget."""
    if trajectory[0].kl >= budget:
        return Crossing(MEASURED, trajectory[0], trajectory[0], 0.0)
    for prev, cur in zip(trajectory, trajectory[1:], strict=False):
        if cur.kl >= budget:
            if cur.kl - prev.kl <= bound:
                return _measured(prev, cur, budget)
            return Crossing("jump", prev, cur, reason=f"KL {prev.kl:.3g} -> {cur.kl:.3g} between steps "
                                                      f"{prev.step} and {cur.step}")
    last = trajectory[-1]
    return Crossing(CENSORED, last, last, reason=f"KL {max(c.kl for c in trajectory):.3g} at most")


def refine(crossing: Crossing, budget: float, evaluate_at: Callable[[float], object],
           bound: float = MAX_BRACKET_KL, substep_bisections: int = SUBSTEP_BISECTIONS) -> Crossing:
    """Bisect a ``jump`` bracket with intermediate steps (``evaluate_at(step)``: whole optimizer steps,
    then fractional steps, see the module doc) until it is at most ``bound`` nats wide; UNRESOLVED when
    brackets of ``1 / 2**substep_bisections`` of a step are still wider."""
    prev, cur, n = crossing.prev, crossing.cur, 0
    finest = 1.0 / 2 ** substep_bisections
    while cur.kl - prev.kl > bound:
        width = cur.step - prev.step
        if width <= finest + 1e-9:
            within = "one optimizer step" if finest == 1 else f"1/{2 ** substep_bisections} of an optimizer step"
            return Crossing(UNRESOLVED, prev, cur, reason=f"KL {prev.kl:.3g} -> {cur.kl:.3g} within {within} "
                                                          f"({prev.step:g} -> {cur.step:g})", refined=n)
        mid = evaluate_at((prev.step + cur.step) // 2 if width > 1 else (prev.step + cur.step) / 2)
        n += 1
        if mid.kl >= budget:
            cur = mid
        else:
            prev = mid
    return _measured(prev, cur, budget, refined=n)
