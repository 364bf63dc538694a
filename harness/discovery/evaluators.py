"""The named discovery evaluators (``--evaluator``) and the job a worker runs for one candidate.

``bench`` and ``fake`` live in harness.discovery.evaluator, ``cascade`` in harness.discovery.cascade;
this module only names them (no import cycle between the two).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from harness.discovery.cascade import CascadeEvaluator
from harness.discovery.config import EvalSettings
from harness.discovery.evaluator import BenchEvaluator, EvalResult, Evaluator, FakeEvaluator, _tail
from harness.registry import Registry

EVALUATORS: Registry[Callable[[EvalSettings, Path], Evaluator]] = Registry("evaluator")
EVALUATORS.add("bench", BenchEvaluator, "harness bench (its behaviour check first), in one sandbox session")
EVALUATORS.add("cascade", CascadeEvaluator, "screen with a short run, then harness bench for the survivors")
EVALUATORS.add("fake", FakeEvaluator, "test double: hash-based fitness, never runs the candidate")


def make_evaluator(settings: EvalSettings, work_dir: Path) -> Evaluator:
    return EVALUATORS.get(settings.evaluator)(settings, work_dir)


def run_job(settings: EvalSettings, candidate_path: str, result_path: str | None, work_dir: str) -> dict:
    """Evaluate one candidate in a worker; never raises (an evaluator bug is status ``error``)."""
    t0 = time.monotonic()
    try:
        result = make_evaluator(settings, Path(work_dir)).evaluate(Path(candidate_path))
    except Exception as e:  # the harness failed, not the candidate: recorded, never scored
        result = EvalResult("error", _tail(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    data = {**result.as_dict(), "seconds": round(time.monotonic() - t0, 3)}
    if result_path is not None:
        tmp = f"{result_path}.tmp{os.getpid()}"
        Path(tmp).write_text(json.dumps(data))
        os.replace(tmp, result_path)
    return data
