"""Where evaluations run: local worker processes, or Ray tasks on a local instance or a cluster.

Both executors take a job (candidate id, file, result path) and hand back ``(id, result dict)``
pairs as evaluations finish, so the loop does not care where they ran. Candidate code never runs
in the controller: the worker calls the evaluator, which runs the candidate in the sandbox.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.evaluator import run_job


@dataclass(frozen=True)
class Job:
    cid: int
    candidate_path: str
    result_path: str | None
    work_dir: str


def _init_worker(threads: int) -> None:
    import torch

    # K workers share the machine's cores; without this each would start one thread per core.
    torch.set_num_threads(threads)
    _die_with_parent()


def _die_with_parent() -> None:
    # A worker must not outlive a controller killed with -9: it would finish its evaluation and
    # write a result that a resumed run has already re-dispatched (an evaluation done twice).
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalExecutor:
    """``parallel`` spawned worker processes (spawn: no inherited torch threads or locks)."""

    def __init__(self, settings: EvalSettings, parallel: int):
        if settings.threads is None:
            settings = dataclasses.replace(settings, threads=max(1, (os.cpu_count() or 1) // parallel))
        self.settings, self.parallel = settings, parallel
        self._pool = self._new_pool()
        self._futures: dict[cf.Future, int] = {}

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.parallel, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(self.settings.threads,))

    def submit(self, job: Job) -> None:
        if getattr(self._pool, "_broken", False):
            # A dead worker breaks the whole pool (its in-flight jobs come back as crashes): start anew.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        fut = self._pool.submit(run_job, self.settings, job.candidate_path, job.result_path, job.work_dir)
        self._futures[fut] = job.cid

    def in_flight(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._futures:
            return []
        done, _ = cf.wait(self._futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            cid = self._futures.pop(fut)
            try:
                out.append((cid, fut.result()))
            except Exception as e:  # the worker process died (OOM killer, segfault in a library)
                out.append((cid, _worker_died(e)))
        return out

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Each evaluation is a Ray task (1 CPU, ``ray_num_gpus`` GPUs); ``ray_address`` None = local Ray.

    On a cluster every node needs this package installed (same version). Tasks write no result
    files (worker nodes need not share the controller's filesystem): the controller records each
    result in the archive as it arrives, so a result is durable once the controller has seen it.
    """

    def __init__(self, settings: EvalSettings, parallel: int, address: str | None, num_gpus: float):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--executor ray needs Ray: pip install 'harness[ray]'") from None
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            if address is None:
                ray.init(num_cpus=parallel, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        # one CPU per task, so one torch thread per evaluation
        self.settings = settings if settings.threads is not None else dataclasses.replace(settings, threads=1)
        self._task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(run_job)
        self._refs: dict = {}

    def submit(self, job: Job) -> None:
        ref = self._task.remote(self.settings, job.candidate_path, None, job.work_dir)
        self._refs[ref] = job.cid

    def in_flight(self) -> int:
        return len(self._refs)

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            cid = self._refs.pop(ref)
            try:
                out.append((cid, self._ray.get(ref)))
            except Exception as e:  # task or node died
                out.append((cid, _worker_died(e)))
        return out

    def shutdown(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns_ray:
            self._ray.shutdown()


def _worker_died(e: Exception) -> dict:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-4000:]
    return {"status": "crash", "error": f"the evaluation worker died: {text}", "fitness": None,
            "metrics": {}, "seconds": 0.0, "behaviour_key": None, "duplicate_of": None}


def make_executor(config: DiscoveryConfig):
    if config.executor == "ray":
        return RayExecutor(config.eval, config.parallel, config.ray_address, config.ray_num_gpus)
    return LocalExecutor(config.eval, config.parallel)


def job_for(out_dir: Path, cid: int, *, result_file: bool) -> Job:
    result = str(out_dir / "results" / f"{cid:05d}.json") if result_file else None
    return Job(cid, str(out_dir / "candidates" / f"{cid:05d}.py"), result, str(out_dir / "runs"))
