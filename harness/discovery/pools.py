"""Candidate pools (harness.executors.CandidatePool): where evaluations run, in local worker processes or
Ray tasks (local or a cluster); a container per candidate is harness.discovery.containers.

Every pool takes a job (candidate id, its source bytes and sha256, result path) and hands back
``(id, result dict)`` pairs as evaluations finish, so the loop does not care where they ran. Candidate
code never runs in the controller: the worker calls the evaluator, which runs the candidate in the
sandbox. Jobs carry code, not paths: a Ray worker on a node that shares no filesystem with the
controller gets the source bytes, checks their sha256, and writes its own copy.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import dataclasses
import hashlib
import json
import multiprocessing
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from harness.discovery.candidate_job import run_job
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.records import RecordError
from harness.runtime import SEED_THREADS


@dataclass(frozen=True)
class Job:
    cid: int
    candidate_path: str  # the controller's copy (local workers read it; remote ones get ``source``)
    result_path: str | None
    work_dir: str
    source: bytes = b""
    sha256: str = ""


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
    """``parallel`` spawned worker processes (spawn: no inherited torch threads or locks), each with
    the CPU policy's one torch thread (harness.runtime), so every evaluation runs the suite's own config."""

    def __init__(self, settings: EvalSettings, parallel: int):
        if settings.threads is None:
            settings = dataclasses.replace(settings, threads=SEED_THREADS)
        self.settings, self.parallel = settings, parallel
        self._pool = self._new_pool()
        self._futures: dict[cf.Future, int] = {}

    @classmethod
    def from_config(cls, config: DiscoveryConfig) -> LocalExecutor:
        return cls(config.eval, config.parallel)

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

    def __init__(self, settings: EvalSettings, parallel: int, address: str | None, num_gpus: float,
                 containers=None):
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
        self.containers = containers
        task = run_remote if containers is None else run_remote_in_container
        self._task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(task)
        self._refs: dict = {}
        self._jobs: dict[int, Job] = {}

    @classmethod
    def from_config(cls, config: DiscoveryConfig) -> RayExecutor:
        return cls(config.eval, config.parallel, config.ray_address, config.ray_num_gpus,
                   config.containers if config.in_container else None)

    def submit(self, job: Job) -> None:
        args = (self.settings, job.source, job.sha256, Path(job.candidate_path).name)
        ref = self._task.remote(*args) if self.containers is None else self._task.remote(*args, self.containers)
        self._refs[ref] = job.cid
        self._jobs[job.cid] = job

    def in_flight(self) -> int:
        return len(self._refs)

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            cid = self._refs.pop(ref)
            job = self._jobs.pop(cid)
            try:
                out.append((cid, keep_record(self._ray.get(ref), Path(job.work_dir) / Path(job.candidate_path).stem)))
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
    """The candidate pool of ``config.executor`` (harness.executors.EXECUTORS: local, docker, ray);
    ``config.containers`` (harness.executors.container_bench.ContainerOptions) serves ``docker`` and ``ray --in-container``."""
    from harness.executors import candidate_pool

    return candidate_pool(config.executor, config)


def job_for(out_dir: Path, cid: int, code: str) -> Job:
    """The job of candidate ``cid``: its source (also written to the run's candidates/ for people to read)."""
    path = out_dir / "candidates" / f"{cid:05d}.py"
    data = code.encode()
    path.write_bytes(data)
    return Job(cid, str(path), str(out_dir / "results" / f"{cid:05d}.json"), str(out_dir / "runs"), data,
               hashlib.sha256(data).hexdigest())


def _stage(source: bytes, sha256: str, name: str) -> Path:
    """The worker's own copy of the candidate, after checking it is the code the controller sent."""
    import tempfile

    if hashlib.sha256(source).hexdigest() != sha256:
        raise ValueError(f"candidate {name}: the source received does not match its sha256 {sha256[:12]}")
    folder = Path(tempfile.mkdtemp(prefix="harness-candidate-"))
    path = folder / name
    path.write_bytes(source)
    return path


def run_remote(settings: EvalSettings, source: bytes, sha256: str, name: str) -> dict:
    """A Ray task: evaluate the candidate from its bytes, in a folder of this node; the record comes back
    in the result (``record``), since this node need not share the controller's filesystem."""
    import shutil

    path = _stage(source, sha256, name)
    try:
        data = run_job(settings, str(path), None, str(path.parent / "runs"))
        return with_record(data)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def run_remote_in_container(settings: EvalSettings, source: bytes, sha256: str, name: str, containers) -> dict:
    """A Ray task that runs the evaluation in a hardened container on its own node (the CPU or GPU image)."""
    import shutil
    import tempfile

    from harness.discovery.containers import evaluate_in_container
    from harness.executors.container_runner import reap_orphans

    if hashlib.sha256(source).hexdigest() != sha256:
        raise ValueError(f"candidate {name}: the source received does not match its sha256 {sha256[:12]}")
    reap_orphans()  # containers of this node's dead workers
    if containers.gpus:  # the cards Ray gave this task, not the node's first ones
        import ray

        containers = dataclasses.replace(containers, gpus=",".join(str(g) for g in ray.get_gpu_ids()))
    folder = Path(tempfile.mkdtemp(prefix="harness-job-"))
    try:
        return with_record(evaluate_in_container(settings, source, folder, containers))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def with_record(data: dict) -> dict:
    """Move the bench record a worker wrote (metrics.record_path) into the result itself."""
    path = (data.get("metrics") or {}).pop("record_path", None)
    if path and Path(path).is_file():
        data["record"] = json.loads(Path(path).read_text())
    return data


def keep_record(data: dict, folder: Path) -> dict:
    """The controller's side of ``with_record``: write the record under the run's runs/ folder."""
    from harness.bench import store_record

    record = data.pop("record", None)
    if isinstance(record, dict):
        try:
            kept = store_record(record, folder)  # the file here, and this controller's run store
        except (RecordError, OSError, ValueError, KeyError, TypeError) as e:
            data.setdefault("metrics", {})["record_error"] = f"the worker's record was not kept: {e}"
        else:
            data.setdefault("metrics", {}).update(record_path=str(kept.path), run_id=kept.run_id)
    return data
