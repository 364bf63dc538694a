"""The job a worker runs for one candidate (``run_job``), and the named evaluators it picks from
(``--evaluator``).

``bench`` and ``fake`` live in harness.discovery.evaluator, ``cascade`` in harness.discovery.cascade;
this module only names them (no import cycle between the two).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from harness.discovery.cascade import CascadeEvaluator
from harness.discovery.config import EvalSettings
from harness.discovery.evaluator import BenchEvaluator, EvalResult, Evaluator, FakeEvaluator, _tail
from harness.registry import Registry
from harness.status import DeadlineExceeded

EVALUATORS: Registry[Callable[[EvalSettings, Path], Evaluator]] = Registry("evaluator")
EVALUATORS.add("bench", BenchEvaluator, "harness bench (its behaviour check first), in one sandbox session")
EVALUATORS.add("cascade", CascadeEvaluator, "screen with a short run, then harness bench for the survivors")
EVALUATORS.add("fake", FakeEvaluator, "test double: hash-based fitness, never runs the candidate")


def make_evaluator(settings: EvalSettings, work_dir: Path) -> Evaluator:
    return EVALUATORS.get(settings.evaluator)(settings, work_dir)


DEADLINE_GRACE_S = 60.0  # past the candidate's deadline, a worker still busy (not in a loss call) is interrupted


@contextlib.contextmanager
def deadline_alarm(seconds: float):
    """Interrupt this thread with DeadlineExceeded after ``seconds`` (a real-time interval timer; the
    main thread only: elsewhere the loss calls' own deadline is the only one). Raised inside a bench,
    it is the candidate's failure there (harness.status.candidate_failure): the record says timeout."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise DeadlineExceeded(f"the candidate's evaluation ran past its deadline ({seconds - DEADLINE_GRACE_S:g} s, "
                               "EvalSettings.candidate_timeout_s) and was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_job(settings: EvalSettings, candidate_path: str, result_path: str | None, work_dir: str) -> dict:
    """Evaluate one candidate in a worker; never raises (an evaluator bug is status ``error``). The
    candidate's deadline (``candidate_timeout_s``) holds at its loss calls; a worker still busy
    DEADLINE_GRACE_S past it is interrupted: status ``timeout``."""
    t0 = time.monotonic()
    try:
        with deadline_alarm(settings.candidate_timeout_s + DEADLINE_GRACE_S):
            result = make_evaluator(settings, Path(work_dir)).evaluate(Path(candidate_path))
    except DeadlineExceeded as e:
        result = EvalResult("timeout", _tail(str(e)))
    except Exception as e:  # the harness failed, not the candidate: recorded, never scored
        result = EvalResult("error", _tail(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    data = {**result.as_dict(), "seconds": round(time.monotonic() - t0, 3)}
    if result_path is not None:
        tmp = f"{result_path}.tmp{os.getpid()}"
        Path(tmp).write_text(json.dumps(data))
        os.replace(tmp, result_path)
    return data
