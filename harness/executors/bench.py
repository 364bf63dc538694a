"""``harness bench --executor docker``: each seed trains in its own hardened container of the job image.

controller: check the request, build the suite cache once -> per seed (``parallel`` at a time, one per
GPU card): a container with the suite cache and model cache read-only and its own output folder, the
loss's source bytes staged beside its spec -> the seeds' per-prompt arrays pooled into the same
cross-seed CIs as a local run (``harness.metrics.aggregate``) -> the record, which also names the image
(content digest) every seed ran in. The loss never runs in the controller.

Suites with the shared matched-KL protocol (tiny) judge inside the container with their code judge
(the gold reward model is part of the suite cache); no API key ever enters a container.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.executors.docker import (
    CPU_IMAGE,
    ContainerRunner,
    DockerUnavailable,
    GpuPool,
    JobRun,
    parse_gpus,
)
from harness.executors.hardening import JobLimits


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
                        backend: str = "auto", out_dir=None, progress: bool = True, overrides: dict | None = None,
                        trust: bool = False, lr_grid=None, options: ContainerOptions = ContainerOptions()) -> dict:
    """Like ``harness.bench.run_bench`` (same arguments, same record), one container per seed.

    Raises ``BenchUsageError`` for a bad request, a suite this executor cannot split by seed, or a
    missing daemon / image (the message says how to build it)."""
    from harness.bench import BenchUsageError, _check_usage, _seed_list
    from harness.lossfile import read_loss_file
    from harness.paths import cache_dir

    t_total = time.perf_counter()
    suite_obj = _check_usage(loss_path, suite, seeds, beta, backend, overrides)
    if lr_grid is not None:
        raise BenchUsageError("--thorough / --lr-grid run with --executor local only")
    if hasattr(suite_obj, "run_seeds") or hasattr(suite_obj, "train_and_generate"):
        raise BenchUsageError(f"suite {suite_obj.name!r} has its own evaluation loop; --executor docker runs the "
                              "suites with the shared matched-KL protocol (tiny); use --executor local")
    if backend == "none" and not trust:
        raise BenchUsageError("backend 'none' runs the loss in-process: pass --trust for a file you wrote or reviewed")
    try:
        runner = options.runner(cache_dir(), models_cache())
        pool = options.pool()
    except (DockerUnavailable, ValueError) as e:
        raise BenchUsageError(f"--executor docker: {e}") from None
    path, data, source = read_loss_file(loss_path)
    beta = float(suite_obj.config.beta if beta is None else beta)
    seed_list = _seed_list(suite_obj, seeds)
    t = time.perf_counter()
    artifacts = suite_obj.build(progress=progress)  # once, here; every container mounts it read-only
    timings = {"suite": time.perf_counter() - t}
    spec = {"suite": suite_obj.name, "overrides": dict(overrides or {}), "beta": beta,
            "sandbox": "jail" if backend == "auto" else backend, "trust": trust,
            "device": "cuda" if pool.cards else "cpu"}
    runs = _run_seeds(runner, pool, options, spec, data, seed_list)
    return _record(suite_obj, artifacts, path, data, source, seed_list, beta, backend, runs, runner, timings,
                   t_total, out_dir)


def _run_seeds(runner, pool, options, spec, data: bytes, seed_list) -> list[JobRun]:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="harness-jobs-"))  # staged specs, sources and outputs; errors go in the record

    def one(seed: int) -> JobRun:
        gpus = pool.acquire()
        try:
            return runner.run({**spec, "seed": seed}, data, root / f"seed-{seed}", gpus=gpus)
        finally:
            pool.release(gpus)

    parallel = max(1, min(options.parallel, pool.slots() or options.parallel, len(seed_list)))
    try:
        with ThreadPoolExecutor(parallel, thread_name_prefix="harness-container") as ex:
            return list(ex.map(one, seed_list))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _record(suite_obj, artifacts, path, data, source, seed_list, beta, backend, runs: list[JobRun], runner,
            timings, t_total, out_dir) -> dict:
    from harness.bench import _record_path
    from harness.lossfile import sha256_bytes
    from harness.metrics import aggregate
    from harness.records import RECORD_SCHEMA_VERSION, now_iso, provenance, validate_record, write_record

    status, error, per_seed, metrics, judge = "ok", None, [], {}, {"id": suite_obj.config.judge, "hash": None}
    failed = next((r for r in runs if r.status != "ok"), None)
    mismatch = next((r for r in runs if r.result and r.result.get("suite", {}).get("config_hash")
                     != suite_obj.config_hash()), None)
    if failed is not None:
        status, error = failed.status, failed.error or f"a seed ended with status {failed.status}"
    elif mismatch is not None:
        status, error = "error", ("the job image's suite config differs from this checkout's (rebuild the image: "
                                  "scripts/job_image.sh)")
    else:
        import numpy as np

        candidates = [r.result["candidate"] for r in runs]
        per_seed = [c["per_seed"][0] for c in candidates]
        arrays = [{k: np.asarray(v, dtype=float) for k, v in c["arrays"][0].items()} for c in candidates]
        metrics = aggregate(per_seed, arrays, suite_obj.config.eval)
        judge = candidates[0]["judge"]
        for c in candidates:
            for k, v in c.get("timings", {}).items():
                timings[k] = timings.get(k, 0.0) + v
    timings["total"] = time.perf_counter() - t_total
    record = {
        "schema_version": RECORD_SCHEMA_VERSION, "kind": "bench", "status": status, "error": error,
        "created_at": now_iso(),
        "loss": {"name": path.stem, "sha256": sha256_bytes(data), "source": source, "path": str(path)},
        "suite": {"name": suite_obj.name, "config_hash": suite_obj.config_hash(),
                  "build_hash": suite_obj.build_hash(), "config": suite_obj.config.as_dict(),
                  "build_stats": artifacts.stats},
        "seeds": seed_list, "beta": beta, "metrics": metrics, "per_seed": per_seed, "judge": judge,
        "sandbox": {"backend": "jail" if backend == "auto" else backend, "requested": backend},
        "provenance": provenance(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "executor": {"kind": "docker", "image": runner.identity,
                     "jobs": [{"seed": s, "status": r.status, "seconds": r.seconds, "exit_code": r.exit_code,
                               "oom_killed": r.oom_killed} for s, r in zip(seed_list, runs, strict=True)],
                     "job_provenance": next((r.result.get("provenance") for r in runs if r.result), None)},
    }
    validate_record(record)
    out = Path(out_dir) if out_dir is not None else None
    record["path"] = str(write_record(record, _record_path(record, out)))
    return record
