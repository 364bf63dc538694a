"""``run_bench``: the benchmark pipeline shared by every suite and every caller.

suite config -> build/load cached artifacts -> per seed: train (TRL, loss through the sandbox
bridge) with in-memory evaluation every few steps (generate -> judge) -> metrics with CIs -> record.

A failing CANDIDATE never raises: the record carries its status (harness.session.STATUSES) and the
real error text, and no metrics (a crash is never ranked). A USAGE error (unknown suite, missing
file, bad numbers) raises ``BenchUsageError``.
"""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.lossfile import LossFileError, read_loss_file, sha256_bytes
from harness.records import RECORD_SCHEMA_VERSION, now_iso, provenance, validate_record, write_record
from harness.runtime import tune_allocator, tune_gc
from harness.suites import SUITES


class BenchUsageError(ValueError):
    """The request itself is wrong (not the candidate); the CLI exits 2."""


@dataclass
class _Run:
    """Mutable state of one run, turned into a record at the end."""

    status: str = "ok"
    error: str | None = None
    backend: str = ""


def _open_session(path: Path, backend: str, trust: bool):
    """Every loss, built-ins included, runs through the sandbox (``auto`` = the jail)."""
    from harness.sandbox import SandboxUnavailable, open_session

    try:
        session = open_session(path, backend=backend, trust=trust)
    except SandboxUnavailable as e:
        raise BenchUsageError(f"sandbox unavailable: {e}") from None
    return session, _backend_name(session, backend)


def _load_suite(suite_obj, progress: bool):
    """(artifacts, seconds to load them); then the training code is imported while the sandbox starts."""
    from harness.train import preload

    t = time.perf_counter()
    artifacts = suite_obj.build(progress=progress)
    seconds = time.perf_counter() - t
    preload()
    return artifacts, seconds


def _backend_name(session, requested: str) -> str:
    name = getattr(session, "backend", None)
    if name:
        return str(name)
    return "none" if type(session).__name__ == "InProcessSession" else ("jail" if requested == "auto" else requested)


def _check_usage(loss_path, suite: str, seeds: int, beta, backend: str, overrides):
    if suite not in SUITES:
        raise BenchUsageError(_unknown(suite))
    if not isinstance(seeds, int) or seeds < 1:
        raise BenchUsageError(f"seeds must be a positive integer or 'auto', got {seeds!r}")
    if beta is not None and not beta > 0:
        raise BenchUsageError(f"beta must be positive, got {beta!r}")
    from harness.sandbox import BACKENDS

    if backend != "auto" and backend not in BACKENDS:
        raise BenchUsageError(f"unknown sandbox backend {backend!r}; choices: auto, {', '.join(BACKENDS.names())}")
    try:
        read_loss_file(loss_path)
    except LossFileError as e:
        raise BenchUsageError(str(e)) from None
    try:
        suite_obj = SUITES.get(suite).with_overrides(dict(overrides or {}))
    except (KeyError, TypeError, ValueError) as e:
        raise BenchUsageError(f"bad suite override: {e}") from None
    unsupported = getattr(suite_obj, "bench_usage_error", lambda: None)()
    if unsupported:
        raise BenchUsageError(unsupported)
    return suite_obj


def _check_grid(suite_obj, lr_grid) -> tuple[float, ...]:
    from harness.suites.tiny.thorough import check_grid, default_grid

    if lr_grid is None:
        return ()
    if hasattr(suite_obj, "run_seeds"):
        raise BenchUsageError(f"thorough mode needs a suite with the matched-KL protocol (tiny); suite "
                              f"{suite_obj.name!r} has its own evaluation loop")
    if lr_grid == "default":
        return default_grid(suite_obj.config.train.learning_rate)
    try:
        return check_grid(lr_grid)
    except (TypeError, ValueError) as e:
        raise BenchUsageError(str(e)) from None


def _unknown(name: str) -> str:
    try:
        SUITES.get(name)
    except KeyError as e:
        return str(e)
    return name


def _seed_list(suite, n: int) -> list[int]:
    base = list(getattr(suite.config, "seeds", ()))
    return (base + list(range(max(base, default=-1) + 1, max(base, default=-1) + 1 + n)))[:n]


def run_bench(loss_path, *, suite: str = "tiny", seeds: int | str = 3, beta: float | None = None,
              backend: str = "auto", out_dir=None, progress: bool = True, overrides: dict | None = None,
              trust: bool = False, lr_grid=None, auto_seeds=None) -> dict:
    """Benchmark one loss file on a suite; return (and write) the record. See the module doc.

    ``backend`` is a sandbox backend (harness.sandbox.BACKENDS, or "auto" = the jail); ``trust`` is
    required for backend "none" (in-process; only for files you wrote or reviewed). ``lr_grid`` (a
    list of learning rates, or "default" for the suite's lr x harness.suites.tiny.thorough.DEFAULT_FACTORS)
    selects thorough mode: the verdict pooled over that grid (harness.suites.tiny.thorough). ``seeds="auto"``
    adds seeds until the headline CI is narrow (``auto_seeds``: harness.suites.tiny.evaluate.AutoSeeds, its
    defaults when None); the record's ``metrics.seeds_auto`` says how many ran and why it stopped."""
    from harness.session import LossCallError
    from harness.suites.tiny.evaluate import AutoSeeds, run_seeds
    from harness.suites.tiny.thorough import run_grid

    t_total = time.perf_counter()
    auto = (auto_seeds or AutoSeeds()) if seeds == "auto" else None
    if auto is not None:
        seeds = auto.cap
    suite_obj = _check_usage(loss_path, suite, seeds, beta, backend, overrides)
    if auto is not None and (lr_grid is not None or hasattr(suite_obj, "run_seeds")):
        raise BenchUsageError("--seeds auto needs the matched-KL protocol (tiny) without thorough mode")
    path, data, source = read_loss_file(loss_path)
    config = suite_obj.config
    beta = float(config.beta if beta is None else beta)
    seed_list = _seed_list(suite_obj, seeds)
    lrs = _check_grid(suite_obj, lr_grid)
    timings: dict[str, float] = {}
    run = _Run()
    per_seed: list[dict] = []
    metrics: dict = {}
    thorough = {"learning_rates": list(lrs)} if lrs else None  # completed by the grid's results
    judge_info = {"id": config.judge, "hash": None}

    tune_allocator()
    # The suite's artifacts load in a helper thread while the sandbox starts here (its worker imports
    # torch, ~0.8 s). The session must be opened by this thread: the worker's parent-death signal
    # is tied to the thread that started it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-suite") as pool:
        loading = pool.submit(_load_suite, suite_obj, progress)
        t = time.perf_counter()
        session = None
        try:
            session, run.backend = _open_session(path, backend, trust)
        except LossFileError as e:
            run.status, run.error = "invalid", str(e)
        except LossCallError as e:
            run.status, run.error = e.status, e.message
        except BaseException:
            loading.cancel()
            raise
        timings["session"] = time.perf_counter() - t
        try:
            artifacts, timings["suite"] = loading.result()
            tune_gc()
        except BaseException as e:
            if session is not None:
                session.close()
            if isinstance(e, RuntimeError):  # e.g. a GPU suite on a CPU host: the request, not the candidate
                raise BenchUsageError(f"suite {suite_obj.name!r} cannot be prepared here: {e}") from None
            raise

    if session is not None:
        try:
            if lrs:
                per_seed, metrics, judge_info, stage, per_lr = run_grid(suite_obj, artifacts, session, seed_list,
                                                                        beta, lrs, progress=progress)
                thorough.update(per_learning_rate=per_lr,
                                selection="per seed, the learning rate with the best win rate at the KL budget")
            else:  # harness.suites.tiny.evaluate.run_seeds hands a suite with its own loop (same contract) to that loop
                per_seed, metrics, judge_info, stage = run_seeds(suite_obj, artifacts, session, seed_list, beta,
                                                                 progress=progress, auto=auto)
            timings.update(stage)
        except LossCallError as e:
            run.status, run.error = e.status, e.message
        except (RuntimeError, ValueError, FloatingPointError) as e:
            # A loss can drive the policy to NaN weights; sampling then fails. Keep the traceback.
            run.status, run.error = "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
        finally:
            session.close()
    if run.status != "ok":
        per_seed, metrics = [], {}
    outcomes = metrics.pop("outcomes", None)
    if auto is not None and per_seed:
        seed_list = [s["seed"] for s in per_seed]
    timings["total"] = time.perf_counter() - t_total

    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "kind": "bench",
        "status": run.status,
        "error": run.error,
        "created_at": now_iso(),
        "loss": {"name": path.stem, "sha256": sha256_bytes(data), "source": source,
                 "path": str(path)},
        "suite": {"name": suite_obj.name, "config_hash": suite_obj.config_hash(),
                  "build_hash": suite_obj.build_hash(), "config": config.as_dict(),
                  "build_stats": artifacts.stats},
        "seeds": seed_list,
        "beta": beta,
        "metrics": metrics,
        "per_seed": per_seed,
        "judge": judge_info,
        "sandbox": {"backend": run.backend or backend, "requested": backend},
        "provenance": provenance(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    if outcomes is not None:
        record["outcomes"] = outcomes
    if thorough is not None:
        record["thorough"] = thorough
    validate_record(record)
    out = Path(out_dir) if out_dir is not None else None
    record["path"] = str(write_record(record, _record_path(record, out)))
    return record


def _record_path(record: dict, out_dir: Path | None) -> Path:
    from harness.paths import runs_dir

    folder = out_dir or runs_dir()
    stamp = record["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    return folder / f"{stamp}-{record['loss']['name']}-{record['suite']['name']}-{record['loss']['sha256'][:8]}.json"
