"""Evaluators: turn a candidate loss file into an ``EvalResult`` (status, error, fitness, metrics).

``bench`` is the real one and the cascade of OpenEvolve: the same ``harness bench`` entry point a
person uses (harness.bench.bench_and_store, so every candidate's run is in ``harness runs``), whose
cheap behaviour check on dummy tensors runs first in the same sandbox session. ``fake`` is the registered test double (like a mock model): it never executes the candidate,
scores it from a hash of its normalised code, and obeys ``# fake-status: <status>`` markers, so the
loop's bookkeeping can be tested in milliseconds.

``run_job`` (harness.discovery.candidate_job) is what a worker process or Ray task runs. It writes the result file atomically before
returning, so a result finished just before the controller was killed is recovered by ``--resume``.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from harness.discovery.config import EvalSettings
from harness.lossfile import LossFileError, parse_loss_source
from harness.status import STATUSES, UNMEASURED
from harness.suites import get_suite

ERROR_TAIL = 4000  # characters of an error kept in the archive (the end holds the exception)


@dataclass(frozen=True)
class EvalResult:
    status: str  # one of harness.session.STATUSES
    error: str | None = None  # the real error text when status != "ok"
    fitness: float | None = None  # the suite's primary metric (win_rate) when status == "ok"
    metrics: dict = field(default_factory=dict)  # the bench record's metrics, seeds, record path
    seconds: float = 0.0
    behaviour_key: str | None = None

    duplicate_of: int | None = None  # status "duplicate": behaves like this earlier candidate

    def __post_init__(self):
        if self.status == "duplicate":
            if self.duplicate_of is None or not self.error:
                raise ValueError("a duplicate evaluation names its twin and says why")
            return
        if self.status in ("screened", UNMEASURED):  # stopped by the cascade's first stage
            # (harness.discovery.cascade), or benched with its gate metric not measured (censored)
            if self.fitness is not None or not self.error:
                raise ValueError(f"a {self.status} evaluation says why it has no fitness, and has none")
            return
        if self.status not in STATUSES:
            raise ValueError(f"unknown evaluation status {self.status!r}")
        if self.status == "ok" and self.fitness is None:
            raise ValueError("an ok evaluation needs a fitness")
        if self.status != "ok" and (self.fitness is not None or not self.error):
            raise ValueError(f"a {self.status!r} evaluation carries an error text and no fitness")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EvalResult:
        return cls(**d)


class Evaluator(Protocol):
    @staticmethod
    def prepare(settings: EvalSettings, progress: bool) -> None:
        """Run once in the controller before any worker starts (e.g. build the suite's cache)."""

    def evaluate(self, candidate_path: Path) -> EvalResult: ...


def _tail(text: str) -> str:
    return text if len(text) <= ERROR_TAIL else "…" + text[-ERROR_TAIL:]


class BenchEvaluator:
    """``harness bench`` on the candidate file, whose behaviour check runs first in the same sandbox
    session; a behavioural duplicate of an earlier candidate stops after the check."""

    def __init__(self, settings: EvalSettings, work_dir: Path):
        self.settings = settings
        self.work_dir = Path(work_dir)

    @staticmethod
    def prepare(settings: EvalSettings, progress: bool) -> None:
        """Build the suite's cached artifacts once, in the controller, before workers start: K workers
        would otherwise each build it (and an unknown suite fails here, not in every worker)."""
        get_suite(settings.suite).build(progress=progress)

    def evaluate(self, candidate_path: Path, deadline: float | None = None) -> EvalResult:
        """``deadline`` (a ``time.time()``): the candidate's; None = now + ``candidate_timeout_s``."""
        from harness.bench import SkipBench, bench_and_store

        s = self.settings
        deadline = time.time() + s.candidate_timeout_s if deadline is None else deadline
        seen: dict = {}

        def before_training(report) -> None:
            seen["behaviour"] = behaviour_key_of(report.diagnostics)
            if s.behavioural_dedupe and seen["behaviour"] is not None:
                twin = behaviour_twin(self.work_dir, seen["behaviour"])
                if twin is not None:
                    seen["twin"] = twin
                    raise SkipBench(f"duplicate of #{twin}")

        try:
            run = bench_and_store(candidate_path, suite=s.suite, seeds=s.seeds, beta=s.beta, backend=s.backend,
                                  out_dir=self.work_dir / Path(candidate_path).stem, progress=False,
                                  overrides={**s.overrides, **thread_overrides(s)},
                                  before_training=before_training, deadline=deadline)
        except SkipBench:
            return _duplicate(seen["twin"], seen["behaviour"])
        return result_from_record(run.record, s.suite, record_path=str(run.path), run_id=run.run_id,
                                  behaviour=seen.get("behaviour"))


def result_from_record(record: dict, suite: str, *, record_path: str | None, run_id: int | None,
                       behaviour: str | None) -> EvalResult:
    """A bench record's evaluation: its status and error, or its gate metric as the fitness (UNMEASURED
    when the gate has no value). Used where the bench ran (this process) and for a container's
    record after harness.discovery.containers.check_record."""
    check = record.get("check") or {}
    metrics = {"stage": "bench" if check.get("valid") else "check", "seeds": record["seeds"],
               "suite": record["suite"]["name"], "beta": record["beta"], "record_path": record_path,
               "run_id": run_id, "check_seconds": check.get("seconds"), **record["metrics"]}
    if record["status"] != "ok":
        return EvalResult(record["status"], _tail(record["error"] or "bench failed without an error text"),
                          metrics=metrics, behaviour_key=behaviour)
    gate = get_suite_gate(suite)
    if record["metrics"].get(gate) is None:
        return EvalResult(UNMEASURED, unmeasured_reason(gate, record["metrics"]), metrics=metrics,
                          behaviour_key=behaviour)
    return EvalResult("ok", fitness=float(record["metrics"][gate]), metrics=metrics, behaviour_key=behaviour)


def unmeasured_reason(gate: str, metrics: dict) -> str:
    """Why a bench that ended without failing has no ``gate`` value (the record's verdict words and its
    censored / unresolved seed counts), for the archive and the proposer's feedback."""
    counts = ", ".join(f"{k}={metrics[k]}" for k in ("measured_seeds", "censored_seeds", "unresolved_seeds")
                       if k in metrics)
    verdict = metrics.get("verdict") or "no measured value"
    return (f"unmeasured: {gate} is not measured ({verdict}{'; ' + counts if counts else ''}). Censored "
            "means the policy never moved as far from the reference as the suite's KL budget within its "
            "training steps, so this loss has no score at that budget")


def get_suite_gate(name: str) -> str:
    """The suite's primary metric: the fitness discovery maximises."""
    return get_suite(name).gate_metric


def thread_overrides(settings: EvalSettings) -> dict:
    """``train.threads`` for the evaluation, when the executor chose a count other than the suite's."""
    current = get_suite(settings.suite).training_threads
    if settings.threads is None or current is None or current == settings.threads:
        return {}
    return {"train.threads": settings.threads}


def behaviour_key_of(diagnostics: dict) -> str | None:
    """A fingerprint of the loss's behaviour on the check's fixed probe inputs (computed in the
    sandbox, at the candidate's hyper-parameter values): its value at 13 points of beta * rho from -8 to 8
    (harness.checks.BEHAVIOUR_MARGINS), value and slope at rho = 0, stationary points, convexity,
    boundedness, and its values on a fixed batch of unequal lengths (and uneven tokens). Value and slope
    at 0 alone let an exponential loss scaled to DPO's pass for DPO (issue 29 item 11); the values across
    the range do not. On the rho grid alone (one example per call, equal lengths, equal token shares)
    AOT, R-DPO, CPO, WPO, LD-DPO and SamPO would all be DPO's (or RPO's) twins; the batch tells them
    apart (issue 31). None when the check computed no values (a loss without a fingerprint is never
    merged)."""
    margins = diagnostics.get("loss_on_margins")
    if "loss_at_zero" not in diagnostics or not margins:
        return None
    from harness.discovery.dedupe import behaviour_key

    values = [diagnostics["loss_at_zero"], diagnostics.get("slope_at_zero", 0.0),
              *diagnostics.get("local_minima", []), -1e9, *diagnostics.get("local_maxima", []),
              float(bool(diagnostics.get("convex_in_rho"))), float(bool(diagnostics.get("bounded_below"))), -1e9,
              *(float("nan") if v is None else v for _, v in margins)]
    if diagnostics.get("probe_losses"):  # the values on a fixed batch (harness.checks._batch_probe)
        values += [-2e9, *diagnostics["probe_losses"]]
    return behaviour_key([float(v) for v in values])


def behaviour_twin(work_dir: Path, key: str) -> int | None:
    """An evaluated candidate with the same behaviour key, read from the run's archive (read-only).

    Workers on other machines (Ray clusters) do not see the archive; there the check is skipped and
    the controller still stores the key."""
    import sqlite3

    db = Path(work_dir).parent / "archive.sqlite"
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = con.execute("SELECT id FROM candidates WHERE behaviour_key = ? AND status = 'ok' ORDER BY id LIMIT 1",
                          (key,)).fetchone()
    finally:
        con.close()
    return None if row is None else int(row[0])


def _duplicate(twin: int, key: str) -> EvalResult:
    return EvalResult("duplicate", f"behaves like candidate #{twin} on the check's probe inputs; not benched",
                      behaviour_key=key, duplicate_of=twin)


_MARKER = re.compile(r"#\s*fake-status:\s*(\w+)")
_BEHAVIOUR = re.compile(r"#\s*fake-behaviour:\s*(\w+)")


class FakeEvaluator:
    """Test double: deterministic, instant (or ``fake_seconds``), never runs the candidate."""

    def __init__(self, settings: EvalSettings, work_dir: Path):
        self.settings = settings
        self.work_dir = Path(work_dir)

    @staticmethod
    def prepare(settings: EvalSettings, progress: bool) -> None:
        """Nothing to build: the fake never runs a suite."""

    def evaluate(self, candidate_path: Path) -> EvalResult:
        from harness.discovery.dedupe import code_key

        time.sleep(self.settings.fake_seconds)
        source = Path(candidate_path).read_text()
        marker = _MARKER.search(source)
        if marker and marker.group(1) != "ok":
            return EvalResult(marker.group(1), f"fake {marker.group(1)}: forced by the file's marker")
        try:
            parse_loss_source(source, str(candidate_path))
        except LossFileError as e:
            return EvalResult("invalid", str(e))
        forced = _BEHAVIOUR.search(source)  # lets tests give two files the same behaviour
        behaviour = forced.group(1) if forced else code_key(source)
        if self.settings.behavioural_dedupe:
            twin = behaviour_twin(self.work_dir, behaviour)
            if twin is not None:
                return _duplicate(twin, behaviour)
        h = int(code_key(source)[:8], 16)
        if not marker and h % 10 == 0:
            return EvalResult("crash", "fake crash: Traceback ... RuntimeError: simulated training failure")
        return EvalResult("ok", fitness=round(0.3 + 0.4 * (h % 1000) / 1000, 4), metrics={"stage": "fake"},
                          behaviour_key=behaviour)
