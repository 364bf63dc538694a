"""``harness bench --executor docker``: each seed trains in its own hardened container of the job image.

controller: check the request, run ``harness check``'s behaviour check in the sandbox (as a local
bench does: a loss that fails it is ``invalid`` and never trained), build the suite cache once -> per seed (``parallel`` at a time, one per
GPU card): a container with the suite cache and model cache read-only and its own output folder, the
loss's source bytes staged beside its spec -> the seeds' per-prompt arrays pooled into the same
cross-seed CIs as a local run (``Suite.pool_seed_jobs``) -> the record, which also names the image
(content digest) every seed ran in. The loss never runs in the controller.

Every suite splits by seed through its own ``seed_job`` (in the container) and ``pool_seed_jobs`` (here):
suites whose judge is code (tiny's gold reward model, smol's ifeval checks) judge inside the container;
suites with an LLM judge (the paper's) write answers there and are judged here, so no API key ever
enters a container.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.executors.container_runner import (
    CPU_IMAGE,
    ContainerRunner,
    DockerUnavailable,
    GpuPool,
    JobRun,
    parse_gpus,
)
from harness.executors.hardening import JobLimits
from harness.executors.results import Expected, JobResultError, check_claims, check_suite
from harness.hyperparams import split_overrides
from harness.lossfile import executable
from harness.paths import cache_dir
from harness.records import bench_record
from harness.suites import RunPlan
from harness.text import clean_line


@dataclass(frozen=True)
class ContainerOptions:
    """How jobs run in containers (``--image``, ``--gpus``, ``--parallel``, ``--job-timeout``, ``--job-memory``)."""

    image: str = CPU_IMAGE
    gpus: str = ""  # "all", "0,1,3" or "" (CPU containers)
    per_gpu: int = 1  # jobs sharing one card (1: never two on one card)
    parallel: int = 1  # containers at once (capped by the GPU slots on a GPU host)
    timeout_s: float = 3600.0  # per container; past it the container is killed: status timeout
    memory: str = "8g"  # per container; an OOM kill is status oom
    cpus: float = 2.0  # per container on a CPU host
    runtime: str = ""  # e.g. runsc (gVisor)

    def runner(self, data: Path | None, models: Path | None) -> ContainerRunner:
        limits = JobLimits(memory=self.memory, shm="1g" if not self.gpus else "16g", cpus=self.cpus,
                           pids=1024 if not self.gpus else 4096, runtime=self.runtime)
        return ContainerRunner(self.image, limits=limits, timeout_s=self.timeout_s, data=data, models=models)

    def pool(self) -> GpuPool:
        return GpuPool(parse_gpus(self.gpus), self.per_gpu)


def models_cache() -> Path | None:
    """The Hugging Face cache to mount read-only (GPU suites load their models from it)."""
    import os

    folder = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return folder if folder.is_dir() else None


def run_container_bench(loss_path, *, suite: str = "tiny", seeds: int = 3, beta: float | None = None,
                        backend: str = "auto", progress: bool = True, overrides: dict | None = None,
                        trust: bool = False, lr_grid=None, options: ContainerOptions = ContainerOptions()) -> dict:
    """Like ``harness.bench.run_bench`` (same arguments, same record plus ``executor``), one container per seed.

    Raises ``BenchUsageError`` for a bad request, a suite that cannot run in a job container as asked
    (``Suite.usage_error(in_container=True)``), or a missing daemon / image (the message says how to
    build it). The record is not stored yet (``harness.bench.store_record``)."""
    from harness.bench import BenchUsageError, _check_usage, _read, check_only, loss_provenance, loss_settings

    t_total = time.perf_counter()
    suite_obj = _check_usage(suite, seeds, beta, backend, overrides, RunPlan(thorough=lr_grid is not None))
    if lr_grid is not None:
        raise BenchUsageError("--thorough / --lr-grid run with --executor local only")
    unsupported = suite_obj.usage_error(in_container=True)
    if unsupported:
        raise BenchUsageError(unsupported)
    if backend == "none" and not trust:
        raise BenchUsageError("backend 'none' runs the loss in-process: pass --trust for a file you wrote or reviewed")
    try:
        runner = options.runner(cache_dir(), models_cache())
        pool = options.pool()
    except (DockerUnavailable, ValueError) as e:
        raise BenchUsageError(f"--executor docker: {e}") from None
    loss, invalid, raw = _read(loss_path)
    settings = loss_settings(loss, overrides)  # the loss's hyper-parameters, checked here before any job
    t = time.perf_counter()
    checked = None if loss is None else check_only(loss, backend, trust, settings)  # in the sandbox
    check_seconds = time.perf_counter() - t
    failed_first = (("invalid", invalid) if checked is None else
                    None if checked.status == "ok" else (checked.status, checked.error))
    beta = float(suite_obj.config.beta if beta is None else beta)
    seed_list = suite_obj.seed_list(seeds)
    t = time.perf_counter()
    artifacts = suite_obj.build(progress=progress)  # once, here; every container mounts it read-only
    timings = {"suite": time.perf_counter() - t, "check": check_seconds}
    spec = {"suite": suite_obj.name, "overrides": split_overrides(overrides)[0], "beta": beta, "per_prompt": True,
            "sandbox": "jail" if backend == "auto" else backend, "trust": trust,
            "device": "cuda" if pool.cards else "cpu", "hyperparameters": settings}
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="harness-jobs-"))  # staged specs, sources and outputs; errors go in the record
    keep = False
    try:
        # a combination of built-ins travels as the file that runs (harness.combination), so a job never
        # depends on its image's copy of the built-ins; the record keeps the file's own bytes (raw)
        runs = [] if failed_first else _run_seeds(runner, pool, options, spec, executable(loss).data, seed_list, root)
        record, keep = _record(suite_obj, artifacts, raw, failed_first, seed_list, beta, backend, runs, runner,
                               timings, t_total, None if checked is None else checked.check, root,
                               loss_extra=loss_provenance(loss, settings))
        return record
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _run_seeds(runner, pool, options, spec, data: bytes, seed_list, root: Path) -> list[JobRun]:

    def one(seed: int) -> JobRun:
        gpus = pool.acquire()
        try:
            return runner.run({**spec, "seed": seed}, data, root / f"seed-{seed}", gpus=gpus)
        finally:
            pool.release(gpus)

    parallel = max(1, min(options.parallel, pool.slots() or options.parallel, len(seed_list)))
    with ThreadPoolExecutor(parallel, thread_name_prefix="harness-container") as ex:
        return list(ex.map(one, seed_list))


def _pool(suite_obj, artifacts, runs: list[JobRun], seeds: list[int], root: Path):
    """(the pooled SuiteResult, None), or (None, why) when the jobs' results (untrusted: they come out of
    the containers) do not have the shape their suite's ``seed_job`` writes, or pooling them (a suite's
    judge, here) fails: a harness fault, never scored; the job outputs are then kept in ``root``."""
    expected = Expected.of(suite_obj, seeds)
    try:
        for seed, r in zip(seeds, runs, strict=True):  # the shared validator (harness.executors.results)
            claimed = r.result.get("suite") or {}
            check_suite(expected, suite=claimed.get("name", suite_obj.name), config_hash=claimed.get("config_hash"),
                        where=f"the job of seed {seed}")
        pooled = suite_obj.pool_seed_jobs(artifacts, [r.result["candidate"] for r in runs], list(seeds))
        check_claims(expected, suite=suite_obj.name, config_hash=expected.config_hash,
                     seeds=[s.get("seed") for s in pooled.per_seed], judge=(pooled.judge or {}).get("id"),
                     where="the pooled jobs")
        return pooled, None
    except JobResultError as e:
        return None, f"{clean_line(str(e))[:400]}; the job outputs are kept in {root}; rerun the bench"
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        why = "pooling the jobs' results failed" if isinstance(e, RuntimeError) else "a job's result is malformed"
        return None, (f"{why} ({type(e).__name__}: {clean_line(str(e))[:300]}); the job outputs are kept in "
                      f"{root}; rerun the bench")


def _record(suite_obj, artifacts, raw, failed_first, seed_list, beta, backend, runs: list[JobRun], runner, timings,
            t_total, check: dict | None, root: Path, loss_extra: dict | None = None) -> tuple[dict, bool]:
    """``failed_first``: (status, error) when the loss file or its behaviour check failed (no job ran)."""
    kept = False  # the job outputs stay on disk when pooling them failed
    invalid = failed_first is not None
    status, error, result = (*failed_first, None) if invalid else ("ok", None, None)
    failed = next((r for r in runs if r.status != "ok"), None)
    if failed is not None:
        status, error = failed.status, failed.error or f"a seed ended with status {failed.status}"
    elif not invalid:
        result, error = _pool(suite_obj, artifacts, runs, seed_list, root)
        if result is None:
            status, kept = "error", True
        else:
            timings.update(result.timings)
    timings["total"] = time.perf_counter() - t_total
    record = bench_record(loss=raw, suite=suite_obj, build_stats=artifacts.stats, seeds=seed_list, beta=beta,
                          status=status, error=error, result=result,
                          sandbox={"backend": "jail" if backend == "auto" else backend, "requested": backend},
                          timings=timings, check=check, loss_extra=loss_extra)
    record["executor"] = {
        "kind": "docker", "image": runner.identity,
        "jobs": [{"seed": s, "status": r.status, "seconds": r.seconds, "exit_code": r.exit_code,
                  "oom_killed": r.oom_killed} for s, r in zip(seed_list, runs, strict=False)],
        "job_provenance": next((r.result.get("provenance") for r in runs if r.result), None)}
    return record, kept
