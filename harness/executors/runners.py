"""The ``bench`` entry points of the executors (harness.executors.EXECUTORS): one bench of a loss, run and
kept (its record file and the run store) where the executor runs seeds. Same arguments as
``harness.bench.bench_and_store`` plus ``containers`` (harness.executors.container_bench.ContainerOptions)."""

from __future__ import annotations

from harness.bench import StoredRun, bench_and_store, store_record


def bench_locally(loss_path, *, containers=None, **options) -> StoredRun:
    """Seeds in this process or side by side in worker processes (the CPU policy, ``jobs``)."""
    return bench_and_store(loss_path, **options)


def bench_in_containers(loss_path, *, containers, out_dir=None, **options) -> StoredRun:
    """Each seed in its own hardened container of the job image (harness.executors.container_bench); ``--seeds auto``
    is refused by the command, and ``jobs`` has no meaning here (one container per seed already)."""
    from harness.bench import BenchUsageError
    from harness.executors.container_bench import ContainerOptions, run_container_bench

    if options.pop("auto_seeds", None) is not None:
        raise BenchUsageError("--seeds auto runs with --executor local only")
    options.pop("jobs", None)
    record = run_container_bench(loss_path, options=containers or ContainerOptions(), **options)
    return store_record(record, out_dir)
