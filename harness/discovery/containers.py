"""``harness discover --executor docker``: each candidate is evaluated in its own hardened container.

The container runs the same evaluation a local worker runs (``harness check``, then bench, in the
jail inside the container: containers/job.py with ``"evaluate"``), from the candidate's source bytes
staged in its job folder ``<out>/jobs/<id>/``. The result comes back as ``out/result.json``; the
controller writes it to ``results/<id>.json`` (what ``--resume`` collects) and adds the image digest.

Nothing the container says is believed (its output folder is written next to an untrusted loss): its
``evaluation`` is checked by ``checked_evaluation`` with the bench path's own validator
(harness.executors.results) and a board's checks on load (``check_record``): the keys and types of an evaluation and nothing else; the record it
names read only from inside the job's own output folder and checked like a board checks a record on
load (aggregates recomputed), for the suite config, seeds, judge and beta asked for; then the status
and fitness are recomputed HERE from that record (harness.discovery.evaluator.result_from_record). A
violation is the candidate's failure (``sandbox_violation``, with the reason), never a crash of the
loop and never a score; ``--resume`` checks a finished job's result the same way.

Resume: containers of a controller killed with -9 are reaped when the next one starts; a job whose
container had already finished (its ``out/result.json`` holds an evaluation) is taken after the same
checks, so no candidate is lost or evaluated twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from harness.discovery.cascade import screen_decision, screen_overrides
from harness.discovery.config import EvalSettings
from harness.discovery.evaluator import ERROR_TAIL, EvalResult, result_from_record, thread_overrides
from harness.executors.container_runner import GpuPool, read_result, reap_orphans
from harness.executors.results import Expected, JobResultError, check_claims, job_file
from harness.leaderboard.folder import read_json_file
from harness.leaderboard.proof import ProofError, check_aggregates
from harness.leaderboard.verify import VerificationError, verify_integrity
from harness.paths import cache_dir
from harness.runtime import SEED_THREADS
from harness.status import STATUSES, UNMEASURED
from harness.suites import get_suite

EVALUATION_KEYS = frozenset(f.name for f in dataclasses.fields(EvalResult)) | {"seconds"}
SCREEN_KEYS = ("stage", "steps", "slope_at_zero", "status", "win_rate_end", "seconds")


def _failure(status: str, error: str, seconds: float, image: dict) -> dict:
    return {"status": status, "error": (error or status)[-ERROR_TAIL:], "fitness": None,
            "metrics": {"stage": "container", "image": image.get("id")}, "seconds": seconds,
            "behaviour_key": None, "duplicate_of": None}


def job_spec(settings: EvalSettings, device: str) -> dict:
    return {"suite": settings.suite, "loss": "/job/loss.py", "output": "/out", "sandbox": settings.backend,
            "device": device, "evaluate": dataclasses.asdict(settings)}


def evaluate_in_container(settings: EvalSettings, source: bytes, folder: Path, containers, *, runner=None,
                          pool: GpuPool | None = None) -> dict:
    """Evaluate one candidate in a container; the evaluation's result dict (never raises for the candidate)."""
    from harness.executors.container_bench import models_cache

    runner = runner or containers.runner(cache_dir(), models_cache())
    pool = pool or containers.pool()
    gpus = pool.acquire()
    try:
        run = runner.run(job_spec(settings, "cuda" if gpus else "cpu"), source, folder, gpus=gpus)
    finally:
        pool.release(gpus)
    evaluation = (run.result or {}).get("evaluation")
    if run.status in ("timeout", "oom", "error") or not isinstance(evaluation, dict):
        return _failure(run.status if run.status != "ok" else "error", run.error or "", run.seconds, run.image)
    return checked_evaluation(settings, evaluation, folder, run.image.get("id"), run.seconds)


def checked_evaluation(settings: EvalSettings, evaluation, folder: Path, image_id: str | None,
                       seconds: float = 0.0) -> dict:
    """The container's evaluation as this controller keeps it, after the checks of the module doc: its
    record's host path and run-store id, the image it ran in; a violation is a candidate failure."""
    try:
        data = _recomputed(settings, evaluation, Path(folder))
    except JobResultError as e:
        return _failure("sandbox_violation", f"the container's result breaks the job contract: {e}", seconds,
                        {"id": image_id})
    data["metrics"]["image"] = image_id
    return data


def _recomputed(settings: EvalSettings, evaluation, folder: Path) -> dict:
    if not isinstance(evaluation, dict):
        raise JobResultError("its evaluation is not an object")
    unknown = sorted(str(k)[:40] for k in set(evaluation) - EVALUATION_KEYS)
    if unknown:
        raise JobResultError(f"its evaluation has unexpected keys {unknown[:5]}")
    status, metrics = evaluation.get("status"), evaluation.get("metrics") or {}
    if status not in (*STATUSES, "screened", UNMEASURED) or not isinstance(metrics, dict):
        raise JobResultError(f"its evaluation has status {str(status)[:40]!r} (a container sees no archive, so "
                             "never a duplicate) or metrics that are not an object")
    key, error, seconds = evaluation.get("behaviour_key"), evaluation.get("error"), evaluation.get("seconds", 0.0)
    if key is not None and not (isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
        raise JobResultError("its behaviour_key is not a sha256 hex digest")
    if error is not None and not isinstance(error, str) or evaluation.get("duplicate_of") is not None:
        raise JobResultError("its error is not a text, or it names a twin")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e7:
        raise JobResultError("its seconds are not a duration")
    if settings.evaluator == "fake":  # the test double never runs a candidate: its verdict is all there is
        return {**_result(evaluation, key), "seconds": float(seconds)}
    record = _record(settings, metrics, folder, status)
    if record is None:  # a failure without a record: it is never scored, its text is kept
        return {**EvalResult(status if status in STATUSES and status != "ok" else "error",
                             (error or f"the container reported {status} without a record")[-ERROR_TAIL:],
                             behaviour_key=key).as_dict(), "seconds": float(seconds)}
    path, record = record
    run_id = _store(path)
    if status == "screened":
        result = _screened(record, metrics, str(path), key)
    else:
        result = result_from_record(record, settings.suite, record_path=str(path), run_id=run_id, behaviour=key)
        screen = metrics.get("screen")
        if isinstance(screen, dict):  # the cascade's first stage, as numbers and words only
            result.metrics["screen"] = {k: screen[k] for k in SCREEN_KEYS
                                        if isinstance(screen.get(k), str | int | float) and not isinstance(screen[k], bool)}
    return {**result.as_dict(), "seconds": float(seconds)}


def _result(evaluation: dict, key) -> dict:
    try:
        fields = {k: evaluation[k] for k in EVALUATION_KEYS - {"seconds"} if k in evaluation}
        fitness = fields.get("fitness")
        if fitness is not None and (isinstance(fitness, bool) or not isinstance(fitness, int | float)
                                    or not 0 <= fitness <= 1):
            raise JobResultError(f"its fitness {str(fitness)[:20]} is not a win rate in [0, 1]")
        return EvalResult(**{**fields, "behaviour_key": key}).as_dict()
    except (TypeError, ValueError) as e:
        raise JobResultError(f"its evaluation is not a valid result ({e})") from None


def check_record(record, expected: Expected, where: str = "the job's record") -> dict:
    """``record`` when it is a bench record that passes every check a board makes on load (schema, strict
    field types and size caps, aggregates recomputed from its per-seed and per-prompt data) and is of the
    suite config, seeds, judge and beta asked for (harness.executors.results.check_claims)."""
    if not isinstance(record, dict):
        raise JobResultError(f"{where} is not a JSON object")
    try:
        verify_integrity(record, expected.suite)
        if record["status"] == "ok":
            check_aggregates(record)
    except (VerificationError, ProofError) as e:
        raise JobResultError(f"{where}: {e}") from None
    except (TypeError, KeyError, ValueError, IndexError, AttributeError) as e:
        raise JobResultError(f"{where} cannot be checked ({type(e).__name__}: {str(e)[:200]})") from None
    check_claims(expected, suite=record["suite"]["name"], config_hash=record["suite"]["config_hash"],
                 seeds=record["seeds"], judge=record["judge"].get("id"), beta=record["beta"], where=where)
    return record


def _expected(settings: EvalSettings, screen: bool) -> Expected:
    overrides = {**settings.overrides, **thread_overrides(settings), **(screen_overrides(settings) if screen else {})}
    suite = get_suite(settings.suite).with_overrides(overrides)
    beta = float(suite.config.beta if settings.beta is None else settings.beta)
    return Expected.of(suite, suite.seed_list(settings.seeds), beta)


def _record(settings: EvalSettings, metrics: dict, folder: Path, status: str) -> tuple[Path, dict] | None:
    """(host path, record) of the record the evaluation names, checked; None for a failure that names none."""
    claimed = metrics.get("record_path")
    if claimed is None:
        if status in ("ok", UNMEASURED, "screened"):
            raise JobResultError(f"it reports {status} without the record that would show it")
        return None
    path = job_file(folder / "out", claimed)
    try:
        record = read_json_file(path)
    except ValueError as e:
        raise JobResultError(f"its record {claimed[:120]!r} is not readable ({e})") from None
    screen = status == "screened" or metrics.get("stage") == "screen"  # the cascade's short run
    return path, check_record(record, _expected(settings, screen=screen), "its record")


def _screened(record: dict, metrics: dict, path: str, key) -> EvalResult:
    """A screened candidate, re-decided here from the screen's record (harness.discovery.cascade)."""
    slope = metrics.get("slope_at_zero")
    slope = float(slope) if isinstance(slope, int | float) and not isinstance(slope, bool) else None
    reason = screen_decision(record, slope) if record["status"] == "ok" else None
    if reason is None:
        raise JobResultError("it reports the candidate screened, but its screen record does not stop it")
    info = {"stage": "screen", "slope_at_zero": slope, "status": record["status"], "record_path": path,
            "win_rate_end": record["metrics"].get("win_rate_end")}
    return EvalResult("screened", reason, metrics=info, behaviour_key=key)


def _store(path: Path) -> int | None:
    """Add the container's bench record to this controller's run store (the container's is read-only)."""
    from harness.store import RunStore, StoreError

    try:
        record = json.loads(path.read_text())
        store = RunStore()
        try:
            return store.add(record)
        finally:
            store.close()
    except (OSError, ValueError, StoreError):  # the evaluation stands; `harness runs` misses this one
        return None


class DockerExecutor:
    """``parallel`` containers at once (one per GPU card on a GPU host), each one candidate."""

    @classmethod
    def from_config(cls, config) -> DockerExecutor:
        """For ``harness.executors.EXECUTORS``: the pool of a discovery run (harness.discovery.config)."""
        return cls(config.eval, config.parallel, config.containers, Path(config.out_dir))

    def __init__(self, settings: EvalSettings, parallel: int, containers, out_dir: Path):
        from harness.executors.container_bench import models_cache

        self.runner = containers.runner(cache_dir(), models_cache())
        self.pool = containers.pool()
        self.reaped = reap_orphans()  # containers left running by a controller killed with -9
        if self.pool.slots():
            parallel = min(parallel, self.pool.slots())
        if settings.threads is None:  # the CPU policy's one torch thread (harness.runtime): the suite's config

            settings = dataclasses.replace(settings, threads=SEED_THREADS)
        self.settings, self.containers, self.jobs = settings, containers, Path(out_dir) / "jobs"
        self._threads = ThreadPoolExecutor(parallel, thread_name_prefix="harness-container")
        self._futures: dict[Future, int] = {}

    def submit(self, job) -> None:
        self._futures[self._threads.submit(self._run, job)] = job.cid

    def _run(self, job) -> dict:
        folder = self.jobs / f"{job.cid:05d}"
        done = read_result(folder / "out" / "result.json")
        if done is not None and isinstance(done.get("evaluation"), dict):
            # finished just before the controller was killed: checked as a fresh result is, not run again
            data = checked_evaluation(self.settings, done["evaluation"], folder, self.runner.identity.get("id"))
        else:
            shutil.rmtree(folder, ignore_errors=True)  # a reaped container's partial output
            data = evaluate_in_container(self.settings, job.source, folder, self.containers, runner=self.runner,
                                         pool=self.pool)
        if job.result_path:
            tmp = f"{job.result_path}.tmp{os.getpid()}"
            Path(tmp).write_text(json.dumps(data))
            os.replace(tmp, job.result_path)
        return data

    def in_flight(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._futures:
            return []
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            cid = self._futures.pop(fut)
            try:
                out.append((cid, fut.result()))
            except Exception as e:  # noqa: BLE001  (the controller's side failed: a harness fault)
                out.append((cid, _failure("error", f"container executor: {type(e).__name__}: {e}", 0.0, {})))
        return out

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
