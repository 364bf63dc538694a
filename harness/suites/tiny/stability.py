"""Stability of a seed's training: did it burst?

A seed *bursts* when, over any checkpoint interval of its trajectory (``train.checkpoint_every`` steps,
16 by default), KL(policy || reference) moves by more than ``BURST_NATS`` = 2 nats in either direction,
or a checkpoint's fluency falls below ``FLUENCY_FRACTION`` = 1/2 of the step-0 fluency. This is the
definition pre-registered by the tiny v2 regime study (benchmarks/experiments/regime_study.py), which
calls ``seed_bursts`` below.

Why these thresholds (issue 27, measured on the committed tiny records at beta 0.1):

- KL. 16-step KL increments have a median of 0.26 nats (90th percentile 2.3, 99th 22); the bursts
  measured moved KL by 2-44 nats within one interval, up and also down (6.8% of intervals show KL
  *falling* by more than 2 nats: a collapse and its recovery). 2 nats is the whole KL budget of the
  verdict: a seed that moves by more than the budget between two checkpoints can cross it from start
  to end inside one interval, which is not a smooth trajectory (the verdict interpolates only inside
  0.5-nat brackets, harness.suites.tiny.budget) whatever the loss.
- Fluency. Step-0 fluency (the reference model) is 0.938-0.948 on every committed seed; it was 0.88
  at calm checkpoints and 0.32 at burst checkpoints. Half the step-0 value (~0.47) lies between the
  two, so a calm checkpoint does not trip it and a collapsed one does.

A seed's burst is reported at the first checkpoint where either test trips (``Burst.step``: the end of
the interval over which KL moved); when both trip there, the KL kind is named. Records made before
these fields existed carry the trajectory, from which ``record_bursts`` recomputes them; a record
without trajectories (or with malformed ones) gives None ("n/a").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.stats.intervals import clopper_pearson_ci, wilson_ci

BURST_NATS = 2.0  # |KL change| over one checkpoint interval above which a seed bursts (nats)
FLUENCY_FRACTION = 0.5  # a checkpoint below this share of the step-0 fluency bursts
KL_RISE, KL_FALL, FLUENCY = "kl_rise", "kl_fall", "fluency"
KINDS = (KL_RISE, KL_FALL, FLUENCY)


@dataclass(frozen=True)
class Burst:
    """Where a seed first burst: ``step`` (optimizer step of the checkpoint), ``kind`` (one of
    ``KINDS``) and ``size`` (the KL change in nats for the KL kinds, the fluency for ``fluency``)."""

    step: float
    kind: str
    size: float


def _number(point: dict, key: str, where: str) -> float:
    value = point.get(key) if isinstance(point, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be a finite number, got {value!r:.40}; a trajectory point is "
                         "{step, kl, fluency, ...} (harness.suites.tiny.metrics.Checkpoint.summary)")
    return float(value)


def first_burst(trajectory: list[dict]) -> Burst | None:
    """The first burst of a seed's trajectory (checkpoint summaries in step order, step 0 first), or None.

    Raises ValueError when a point lacks a finite ``step``, ``kl`` or ``fluency`` or the first point is
    not step 0 (the fluency threshold is relative to step 0)."""
    if not trajectory:
        raise ValueError("an empty trajectory has no checkpoints to test for bursts")
    points = [{k: _number(p, k, f"trajectory[{i}]") for k in ("step", "kl", "fluency")}
              for i, p in enumerate(trajectory)]
    if points[0]["step"] != 0:
        raise ValueError(f"a trajectory starts at step 0 (the reference), this one at {points[0]['step']:g}")
    floor = FLUENCY_FRACTION * points[0]["fluency"]
    for prev, cur in zip(points, points[1:], strict=False):
        move = cur["kl"] - prev["kl"]
        if abs(move) > BURST_NATS:
            return Burst(cur["step"], KL_RISE if move > 0 else KL_FALL, move)
        if cur["fluency"] < floor:
            return Burst(cur["step"], FLUENCY, cur["fluency"])
    return None


def seed_bursts(seed_entry: dict) -> bool:
    """Whether a record's ``per_seed`` entry bursts (its trajectory; no trajectory: False, as the regime
    study counts it). Raises ValueError on a malformed trajectory."""
    trajectory = seed_entry.get("trajectory") or []
    return bool(trajectory) and first_burst(trajectory) is not None


def burst_fields(trajectory: list[dict]) -> dict:
    """A seed's record fields: ``burst`` (bool), ``burst_step`` and ``burst_kind`` (None when calm)."""
    b = first_burst(trajectory)
    return {"burst": b is not None, "burst_step": None if b is None else b.step,
            "burst_kind": None if b is None else b.kind}


def burst_metrics(per_seed: list[dict], level: float = 0.95) -> dict:
    """A run's metrics from its seeds' ``burst`` flags: ``burst_rate`` (share of seeds), ``burst_rate_ci``
    (Clopper-Pearson interval at ``level``: it covers at every true rate, where Wilson's dips to ~0.83 at
    the low rates of a calm suite), ``burst_seeds`` (how many burst; ``per_seed[i]["burst"]`` says which).
    Raises ValueError when a seed has no boolean ``burst`` or there is no seed."""
    flags = [s.get("burst") for s in per_seed]
    if not flags or not all(isinstance(f, bool) for f in flags):
        raise ValueError(f"every seed needs a boolean 'burst' field (burst_fields), got {flags[:8]}")
    k, n = sum(flags), len(flags)
    low, high = clopper_pearson_ci(k, n, level)
    return {"burst_rate": k / n, "burst_rate_ci": [low, high], "burst_seeds": k}


def record_bursts(record: dict) -> dict | None:
    """``burst_metrics`` of a record plus its per-seed fields (``per_seed``: a list of ``burst_fields``),
    taken from the record when it carries them, recomputed from the trajectories when it does not (a
    record made before the stability diagnostic), None when neither is possible (no trajectories, a
    malformed one, or no seed). Never raises on a well-typed record of any age."""
    seeds = record.get("per_seed") if isinstance(record, dict) else None
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, dict) for s in seeds):
        return None
    keys = ("burst", "burst_step", "burst_kind")
    try:
        if all(isinstance(s.get("burst"), bool) for s in seeds):
            fields = [{k: s.get(k) for k in keys} for s in seeds]
        else:
            fields = [burst_fields(s.get("trajectory") or []) for s in seeds]
        return {**burst_metrics(fields), "per_seed": fields}
    except (ValueError, TypeError):  # a trajectory that is not a list of points
        return None


BURST_METRICS = ("burst_rate", "burst_rate_ci", "burst_seeds")
TOLERANCE = 1e-6  # float rounding of a share of a few seeds


def _close(claimed, value) -> bool:
    a = claimed if isinstance(claimed, list) else [claimed]
    b = value if isinstance(value, list) else [value]
    return len(a) == len(b) and all(math.isclose(float(x), float(y), rel_tol=0, abs_tol=TOLERANCE)
                                    for x, y in zip(a, b, strict=True))


def check_bursts(record: dict) -> None:
    """A record's stability diagnostic, when it carries one (``TinySuite.check_record``, run by boards on a
    record made elsewhere): each seed's burst fields are those of its trajectory, and the run's burst
    metrics are those of the seeds. Raises ValueError naming the field that was edited after the run."""
    metrics, per_seed = record["metrics"], record["per_seed"]
    if not any(k in metrics for k in BURST_METRICS) and not any("burst" in s for s in per_seed):
        return  # a record made before the diagnostic (readers recompute it from the trajectories)
    for i, seed in enumerate(per_seed):
        try:
            fields = burst_fields(seed.get("trajectory") or [])
        except ValueError as err:
            raise ValueError(f"per_seed[{i}] carries burst fields its trajectory cannot give: {err}") from None
        if {k: seed.get(k) for k in fields} != fields:
            raise ValueError(f"per_seed[{i}] burst fields {[seed.get(k) for k in fields]} disagree with its "
                             f"trajectory ({list(fields.values())}): the record was edited after the run")
    expected = burst_metrics(per_seed)
    k, n = expected["burst_seeds"], len(per_seed)
    for key, value in expected.items():
        claimed = metrics.get(key)
        # a record made before burst rates used Clopper-Pearson carries the Wilson interval of the same flags
        allowed = [value, list(wilson_ci(k, n))] if key == "burst_rate_ci" else [value]
        same = claimed is not None and any(_close(claimed, v) for v in allowed)
        if not same:
            raise ValueError(f"metrics.{key} is {claimed!r}, but the seeds' burst flags give {value!r}: "
                             "the record was edited after the run")
