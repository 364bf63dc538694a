"""``harness discover --executor docker``: each candidate is evaluated in its own hardened container.

The container runs the same evaluation a local worker runs (``harness check``, then bench, in the
jail inside the container: containers/job.py with ``"evaluate"``), from the candidate's source bytes
staged in its job folder ``<out>/jobs/<id>/``. The result comes back as ``out/result.json``; the
controller writes it to ``results/<id>.json`` (what ``--resume`` collects) and adds the image digest.

Resume: containers of a controller killed with -9 are reaped when the next one starts; a job whose
container had already finished (its ``out/result.json`` holds an evaluation) is taken as it is, so no
candidate is lost or evaluated twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from harness.discovery.config import EvalSettings
from harness.discovery.evaluator import ERROR_TAIL
from harness.executors.docker import GpuPool, read_result, reap_orphans
from harness.paths import cache_dir
from harness.runtime import SEED_THREADS


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
    from harness.executors.bench import models_cache

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
    return _on_host(evaluation, folder, run.image.get("id"))


def _on_host(evaluation: dict, folder: Path, image_id: str | None) -> dict:
    """The container's evaluation as the controller keeps it: host paths, and the image it ran in."""
    data = {**evaluation, "metrics": dict(evaluation.get("metrics") or {})}
    data["metrics"]["image"] = image_id
    path = data["metrics"].get("record_path")
    if isinstance(path, str) and path.startswith("/out/"):  # the container's path -> this host's
        data["metrics"]["record_path"] = str(folder / "out" / path[len("/out/"):])
        data["metrics"]["run_id"] = _store(Path(data["metrics"]["record_path"]))
    return data


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
        from harness.executors.bench import models_cache

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
            # finished just before the controller was killed: taken as it is, not run again
            data = _on_host(done["evaluation"], folder, self.runner.identity.get("id"))
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
