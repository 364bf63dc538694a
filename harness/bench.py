"""``run_bench``: the benchmark pipeline shared by every suite and every caller; ``bench_and_store``
runs it and keeps the record (a JSON file and the run store), for the CLI, submit, discovery and ci.

loss file (read once: harness.lossfile.LossFile) -> sandbox session -> behaviour check in that
session (closed after it) -> the suite's ``run_seeds`` (train -> generate -> judge), each seed's loss in
a fresh sandbox session within the time budget the check's speed sets (harness.sandbox.seeds) ->
``SuiteResult`` -> record.

A failing CANDIDATE never raises: the record carries its status (harness.status) and the real error
text, and no metrics (a crash is never ranked). A USAGE error (unknown suite, unreadable file, bad
numbers) raises ``BenchUsageError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from harness.environment import make_deterministic, warn_if_off_lock
from harness.hyperparams import HyperparameterError, resolve, split_overrides
from harness.lossfile import LossFile, LossFileError, describe_combination, parse_loss_source, read_loss_file
from harness.records import bench_record, record_path, write_record
from harness.runtime import policy, seed_processes, tune_allocator, tune_gc
from harness.sandbox import SessionSpec
from harness.status import candidate_failure
from harness.suites import SUITES, AdaptiveSeeds, RunPlan, SeedProcesses


class BenchUsageError(ValueError):
    """The request itself is wrong (not the candidate); the CLI exits 2."""


class SkipBench(Exception):  # noqa: N818  (a decision, not an error)
    """Raised by a ``before_training`` hook to stop after the check (e.g. a behavioural duplicate)."""


@dataclass
class _Run:
    """Mutable state of one run, turned into a record at the end."""

    status: str = "ok"
    error: str | None = None
    backend: str = ""
    check: dict | None = None


def _open_session(loss: LossFile, backend: str, trust: bool, hyperparameters: dict | None = None):
    """Every loss, built-ins included, runs through the sandbox (``auto`` = the jail)."""
    from harness.sandbox import SandboxUnavailable, open_session

    try:
        session = open_session(loss, backend=backend, trust=trust, hyperparameters=hyperparameters)
    except SandboxUnavailable as e:
        raise BenchUsageError(f"sandbox unavailable: {e}") from None
    return session, session.backend


def _seed_processes(suite_obj, spec, n_seeds: int, jobs, sequential: bool):
    """The CPU policy for this run (harness.runtime): (SeedProcesses or None, the record's statement)."""

    count = 1 if sequential or not suite_obj.parallel_seeds else seed_processes(n_seeds, jobs)
    stated = policy(count, suite_obj.training_threads)
    if count < 2:
        return None, stated
    return SeedProcesses(count, spec), stated


def _training_sessions(loss: LossFile, backend: str, trust: bool, report, budget, deadline,
                       hyperparameters: dict | None = None):
    """The training's SeedSessions: a fresh session per seed, limited relative to the check's fastest
    call (``report``'s diagnostics; None without a check)."""
    from harness.sandbox.seeds import SeedSessions  # imported late: the session module imports torch

    # the check's fastest call at its speed batch (harness.checks: "call_ms_b<B>")
    fastest_ms = None if report is None else next((v for k, v in report.diagnostics.items()
                                                   if k.startswith("call_ms_b")), None)
    check_call_s = None if fastest_ms is None else float(fastest_ms) / 1000
    return SeedSessions(SessionSpec(loss, backend, trust, check_call_s=check_call_s, budget=budget, deadline=deadline,
                                    hyperparameters=hyperparameters))


def _load_suite(suite_obj, progress: bool):
    """(artifacts, seconds to load them); then the training code is imported while the sandbox starts."""
    from harness.train import preload

    t = time.perf_counter()
    artifacts = suite_obj.build(progress=progress)
    seconds = time.perf_counter() - t
    preload()
    return artifacts, seconds


def _read(loss_path) -> tuple[LossFile | None, str | None, tuple]:
    """(the loss file, or None with the reason it breaks the contract, (path, bytes, source)).

    A file that cannot be read safely (missing, a symbolic link, a device, too large, undecodable) is
    a usage error: nothing of it reaches a record."""
    try:
        path, data, source = read_loss_file(loss_path)
    except LossFileError as e:
        raise BenchUsageError(str(e)) from None
    try:
        return LossFile(path, data, source, parse_loss_source(source, str(path))), None, (path, data, source)
    except LossFileError as e:
        return None, str(e), (path, data, source)


def _check_usage(suite: str, seeds: int, beta, backend: str, overrides, plan: RunPlan):
    if suite not in SUITES:
        raise BenchUsageError(_unknown(suite))
    if not isinstance(seeds, int) or seeds < 1:
        raise BenchUsageError(f"seeds must be a positive integer, got {seeds!r}")
    if beta is not None and not beta > 0:
        raise BenchUsageError(f"beta must be positive, got {beta!r}")
    from harness.sandbox import BACKENDS

    if backend != "auto" and backend not in BACKENDS:
        raise BenchUsageError(f"unknown sandbox backend {backend!r}; choices: auto, {', '.join(BACKENDS.names())}")
    try:
        suite_obj = SUITES.get(suite).with_overrides(split_overrides(overrides)[0])
    except (KeyError, TypeError, ValueError) as e:
        raise BenchUsageError(f"bad suite override: {e}") from None
    unsupported = suite_obj.usage_error(plan)
    if unsupported:
        raise BenchUsageError(unsupported)
    return suite_obj


def loss_settings(loss: LossFile | None, overrides: dict | None) -> dict:
    """The loss's hyper-parameter values: the ``loss.<name>`` overrides checked against the file's
    declarations, defaults filled in ({} for a file without hyper-parameters or one that breaks the
    contract). A value the file does not declare or allow is a usage error."""
    asked = split_overrides(overrides)[1]
    if loss is None:
        return {}
    try:
        return resolve(loss.signature.hyperparameters, asked, f"loss {loss.name!r}")
    except HyperparameterError as e:
        raise BenchUsageError(f"--set loss.*: {e}") from None


def run_plan(seeds: int | str, lr_grid=None, auto_seeds: AdaptiveSeeds | None = None) -> tuple[RunPlan, int]:
    """(the run plan, how many seeds to prepare) from ``run_bench``'s options: ``seeds="auto"`` adds seeds
    (``auto_seeds``, its defaults when None; up to its cap), ``lr_grid`` ("default" or learning rates) asks
    for thorough mode. Raises BenchUsageError for a plan that cannot be (a bad grid, auto with thorough)."""
    try:
        learning_rates = () if lr_grid in (None, "default") else tuple(float(x) for x in lr_grid)
        adaptive = (auto_seeds or AdaptiveSeeds()) if seeds == "auto" else None
        plan = RunPlan(thorough=lr_grid is not None, learning_rates=learning_rates, adaptive=adaptive)
    except (TypeError, ValueError) as e:
        raise BenchUsageError(str(e)) from None
    return plan, (plan.adaptive.cap if plan.adaptive is not None else seeds)


def _unknown(name: str) -> str:
    try:
        SUITES.get(name)
    except KeyError as e:
        return str(e)
    return name


def _check(session, loss: LossFile, run: _Run):
    """``harness check``'s behaviour checks in the bench's own session: a loss that fails them is
    ``invalid`` (or the sandbox status that stopped the check) and is never trained or ranked."""
    from harness.checks import CheckReport, check_session
    from harness.status import check_status

    t = time.perf_counter()
    report = check_session(session, loss.signature, report=CheckReport(path=str(loss.path), name=loss.name,
                                                                       sha256=loss.sha256))
    run.check = {"valid": report.valid, "errors": list(report.errors), "warnings": list(report.warnings),
                 "seconds": round(time.perf_counter() - t, 3)}
    if not report.valid:
        run.status = check_status(report.errors)
        run.error = "the loss fails `harness check`:\n" + "\n".join(report.errors)
    return report


def check_only(loss: LossFile, backend: str, trust: bool, hyperparameters: dict | None = None) -> _Run:
    """The behaviour check alone, in a sandbox session of its own (an executor that trains elsewhere
    runs it first, as ``run_bench`` does): ``run.status`` is "ok" or the candidate's failure status.

    Raises BenchUsageError when the sandbox is unavailable; a harness fault propagates."""
    run = _Run()
    session = None
    try:
        session, run.backend = _open_session(loss, backend, trust, hyperparameters)
        _check(session, loss, run)
    except Exception as e:
        failed = candidate_failure(e)
        if failed is None:
            raise
        run.status, run.error = failed
    finally:
        if session is not None:
            session.close()
    return run


def run_bench(loss_path, *, suite: str = "tiny", seeds: int | str = 3, beta: float | None = None,
              backend: str = "auto", progress: bool = True, overrides: dict | None = None,
              trust: bool = False, lr_grid=None, check: bool = True,
              before_training: Callable | None = None, auto_seeds=None, jobs: int | None = None,
              seed_ids: list[int] | None = None, time_budget=None, deadline: float | None = None) -> dict:
    """Benchmark one loss file on a suite; return its record (see harness.records; not yet stored).

    ``backend`` is a sandbox backend (harness.sandbox.BACKENDS, or "auto" = the jail); ``trust`` is
    required for backend "none" (in-process; only for files you wrote or reviewed). ``lr_grid`` (a
    list of learning rates, or "default" for the suite's own grid) selects thorough mode (``RunPlan.thorough``;
    suites without it refuse through ``usage_error``). ``check`` runs ``harness check``'s behaviour
    checks first, in the same session; ``before_training(report)`` is then called with the passing
    check's report and may raise ``SkipBench`` (re-raised after the session is closed). ``seeds="auto"``
    adds seeds until the headline CI is narrow (``auto_seeds``: harness.suites.AdaptiveSeeds, its defaults
    when None; suites without it refuse); the record's ``metrics.seeds_auto`` says how many ran and why it stopped.
    ``jobs``: seed worker processes (harness.runtime.seed_processes; None = one per usable CPU), stated
    in ``provenance.hardware.cpu_policy``; the numbers are the same for any value. ``seed_ids`` runs these
    seeds instead of the suite's first ``seeds`` (re-running a record's seeds: harness.reproduce).
    ``time_budget`` (harness.sandbox.limits.TimeBudget; None: its defaults) limits training relative to
    the check's speed, and ``deadline`` (a ``time.time()``) ends the whole run: a loss past either is
    ``timeout``. The check's session is closed after the check; every seed trains in a fresh one."""
    t_total = time.perf_counter()
    plan, seeds = run_plan(seeds, lr_grid, auto_seeds)
    suite_obj = _check_usage(suite, seeds, beta, backend, overrides, plan)
    loss, invalid, raw = _read(loss_path)
    settings = loss_settings(loss, overrides)
    beta = float(suite_obj.config.beta if beta is None else beta)
    if seed_ids is not None:
        if plan.adaptive is not None or not seed_ids or any(not isinstance(s, int) or s < 0 for s in seed_ids):
            raise BenchUsageError(f"seed ids must be non-negative integers (without --seeds auto), got {seed_ids!r}")
        seed_list = list(seed_ids)
    else:
        seed_list = suite_obj.seed_list(seeds)
    timings: dict[str, float] = {}
    run = _Run(status="ok" if invalid is None else "invalid", error=invalid)
    result, cpu_policy = None, None

    tune_allocator()
    make_deterministic()  # this process's evaluation; every training process sets it too (harness.train)
    warn_if_off_lock()
    # The suite's artifacts load in a helper thread while the sandbox starts here (its worker imports
    # torch, ~0.8 s). The session must be opened by this thread: the worker's parent-death signal
    # is tied to the thread that started it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-suite") as pool:
        loading = pool.submit(_load_suite, suite_obj, progress)
        t = time.perf_counter()
        session = None
        try:
            if loss is not None:
                session, run.backend = _open_session(loss, backend, trust, settings)
        except Exception as e:
            failed = candidate_failure(e)
            if failed is None:
                loading.cancel()
                raise
            run.status, run.error = failed
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

    training = None
    if session is not None:
        try:
            report = _check(session, loss, run) if check else None
            session.close()  # the check's session ends here: no state of the check reaches training
            if run.status == "ok" and before_training is not None:
                before_training(report)
            if run.status == "ok":
                training = _training_sessions(loss, run.backend, trust, report, time_budget, deadline, settings)
                parallel, cpu_policy = _seed_processes(suite_obj, training.spec, len(seed_list), jobs,
                                                       sequential=bool(plan.modes()))
                result = suite_obj.run_seeds(artifacts, training, seed_list, beta, progress=progress,
                                             plan=replace(plan, parallel=parallel))
                timings.update(result.timings)
                if plan.adaptive is not None:
                    seed_list = [s["seed"] for s in result.per_seed]
        except SkipBench:
            raise
        except Exception as e:
            failed = candidate_failure(e)
            if failed is None:
                raise
            run.status, run.error = failed
            result = None
        finally:
            session.close()
            if training is not None:
                training.close()
    timings["total"] = time.perf_counter() - t_total
    return bench_record(loss=raw, suite=suite_obj, build_stats=artifacts.stats, seeds=seed_list, beta=beta,
                        status=run.status, error=run.error, result=result if run.status == "ok" else None,
                        sandbox={"backend": run.backend or backend, "requested": backend,
                                 **({"time_budget": training.as_dict()} if training is not None else {})},
                        timings=timings, check=run.check, cpu_policy=cpu_policy,
                        loss_extra=loss_provenance(loss, settings))


def loss_provenance(loss: LossFile | None, settings: dict) -> dict:
    """What the record's ``loss`` block adds for this file: its hyper-parameter values (declared ones
    only) and, for a combination, its components (harness.lossfile.describe_combination)."""
    extra = {}
    if settings:
        extra["hyperparameters"] = dict(settings)
    if loss is not None and loss.signature.combination:
        extra["combination"] = describe_combination(loss.signature)
    return extra


@dataclass(frozen=True)
class StoredRun:
    """A bench run that was kept: its record, the record's JSON file and its run-store id (None with
    ``store_error`` when the store could not take it; the file is then still written)."""

    record: dict
    path: Path
    run_id: int | None
    store_error: str | None = None


def store_record(record: dict, out_dir=None, store_url: str | None = None) -> StoredRun:
    """Write ``record`` as a JSON file (``out_dir`` or the run folder) and add it to the run store."""
    from harness.store import RunStore, StoreError

    path = write_record(record, record_path(record, Path(out_dir) if out_dir is not None else None))
    try:
        store = RunStore(store_url)
        try:
            return StoredRun(record, path, store.add(record))
        finally:
            store.close()
    except StoreError as e:
        return StoredRun(record, path, None, str(e))


def bench_and_store(loss_path, *, out_dir=None, store_url: str | None = None, **options) -> StoredRun:
    """``run_bench`` then ``store_record``: the one way a bench run is made and kept, so every run
    (CLI, submit, discovery, ci) reaches ``harness runs``. ``options`` are ``run_bench``'s."""
    return store_record(run_bench(loss_path, **options), out_dir, store_url)


__all__ = ["BenchUsageError", "SkipBench", "StoredRun", "bench_and_store", "check_only", "record_path",
           "run_bench", "store_record"]
