"""Seeds side by side in worker processes: the tiny suite's half of the CPU policy (harness.runtime).

Each worker is a spawned process (no forked torch or thread state) with ``train.threads`` torch
threads. It loads the suite's built artifacts, opens a fresh sandbox session for each seed on the very
loss bytes the parent read (harness.sandbox.SessionSpec, harness.sandbox.seeds), and trains whole seeds with the sequential path's own
code (harness.suites.tiny.evaluate), so a seed's numbers are the same whichever process runs it and
however many run. A seed is trained by one worker and its kept weights (on disk) are evaluated in
smaller tasks by whichever workers are free next. Training steps flow back over a queue to the
parent's progress bar; a candidate failure in a worker (LossCallError: diverged, timeout, ...) is
raised in the parent as it was raised there, and the other workers are stopped.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from harness.sandbox.seeds import SeedSessions
from harness.terminal import route_library_warnings

_state: dict = {}  # the worker process's own: its _Seeds (artifacts, judge, reference model, session)


def _start(suite, session_spec, beta: float, ticks) -> None:
    import atexit

    import torch

    from harness.environment import make_deterministic
    from harness.runtime import tune_allocator, tune_gc
    from harness.suites.tiny.evaluate import _Seeds

    route_library_warnings()  # a worker's library warnings go to the log too, not into the parent's terminal
    torch.set_num_threads(suite.config.train.threads)
    make_deterministic()
    tune_allocator()
    artifacts = suite.build(progress=False)
    session = SeedSessions(session_spec)  # a fresh sandbox session for each seed this worker trains
    atexit.register(session.close)
    tune_gc()
    _state["seeds"] = _Seeds(suite, artifacts, session, beta, 0, False, ticks=ticks)


CHECKPOINT_TASKS = 2  # a seed's checkpoints are evaluated in this many tasks, so workers share the last seed


def _spent(state, before: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in state.timings.items()}


def _train(seed: int, folder: str) -> dict:
    from harness.suites.tiny.evaluate import StepWeights

    state = _state["seeds"]
    before = dict(state.timings)
    state.train_weights(seed, StepWeights(folder))
    return _spent(state, before)


def _checkpoints(seed: int, folder: str, steps: list[int]):
    from harness.suites.tiny.evaluate import StepWeights

    state = _state["seeds"]
    before = dict(state.timings)
    return state.evaluate_checkpoints(seed, StepWeights(folder), steps), _spent(state, before)


def _crossings(seed: int, folder: str, trajectory: list):
    from harness.suites.tiny.evaluate import StepWeights
    from harness.suites.tiny.metrics import seed_metrics

    state = _state["seeds"]
    before = dict(state.timings)
    weights = StepWeights(folder)
    crossings = state.locate_crossings(seed, weights, trajectory)
    weights.clear()
    metrics, arrays = seed_metrics(seed, trajectory, crossings, state.cfg.eval)
    return (metrics, arrays, {"id": state.judge.id, "hash": state.judge.hash}), _spent(state, before)


def _chunks(steps: list[int], n: int) -> list[list[int]]:
    size = -(-len(steps) // n) if steps else 1
    return [steps[i:i + size] for i in range(0, len(steps), size)]


def train_seeds_in_processes(suite, session_spec, seeds: list[int], beta: float, processes: int, bar):
    """(per_seed metrics, arrays, judge_info, summed stage timings) for ``seeds`` trained in
    ``processes`` worker processes; ``bar`` (evaluate._Progress) advances by the workers' steps.
    Results come back in ``seeds`` order.

    Each seed is a chain of tasks: training, which keeps every step's weights in a scratch folder;
    then its checkpoints, evaluated in ``CHECKPOINT_TASKS`` tasks; then the KL-budget crossings and
    their bisections on the whole trajectory. Each task is queued as soon as what it needs is done, and
    any free worker takes the next one, so with more seeds than workers the last seed's evaluation is
    shared instead of running on one worker while the others idle. Every evaluation is a function of
    the weights, the step and the seed alone: the numbers are those of one process."""
    from harness.suites.tiny.evaluate import StepWeights

    ctx = multiprocessing.get_context("spawn")
    ticks = ctx.Queue()
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(ticks, bar, stop), daemon=True, name="harness-seed-ticks")
    drain.start()
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=ctx, initializer=_start,
                               initargs=(suite, session_spec, beta, ticks))
    scratch = tempfile.TemporaryDirectory(prefix="harness-weights-")
    folder = {seed: f"{scratch.name}/{seed}" for seed in seeds}
    every = suite.config.train.checkpoint_every
    spent: list[dict] = []
    results: dict[int, tuple] = {}
    parts: dict[int, list] = {}
    try:
        pending = {pool.submit(_train, seed, folder[seed]): ("train", seed, None) for seed in seeds}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: seeds.index(pending[f][1])):
                kind, seed, index = pending.pop(future)
                if kind == "train":
                    spent.append(future.result())  # a candidate failure is raised here
                    chunks = _chunks(StepWeights(folder[seed]).checkpoints(every), CHECKPOINT_TASKS)
                    parts[seed] = [None] * len(chunks)
                    for i, steps in enumerate(chunks):
                        pending[pool.submit(_checkpoints, seed, folder[seed], steps)] = ("checkpoints", seed, i)
                elif kind == "checkpoints":
                    parts[seed][index], used = future.result()
                    spent.append(used)
                    if all(p is not None for p in parts[seed]):
                        trajectory = [point for part in parts[seed] for point in part]
                        pending[pool.submit(_crossings, seed, folder[seed], trajectory)] = ("crossings", seed, None)
                else:
                    results[seed], used = future.result()
                    spent.append(used)
    finally:  # on a failure the tasks not yet started are cancelled; running ones end with their worker
        pool.shutdown(wait=True, cancel_futures=True)
        stop.set()
        drain.join(timeout=5)
        ticks.close()
        scratch.cleanup()
    timings: dict[str, float] = {}
    for used in spent:
        for k, v in used.items():
            timings[k] = timings.get(k, 0.0) + v
    ordered = [results[seed] for seed in seeds]
    return [r[0] for r in ordered], [r[1] for r in ordered], ordered[0][2], timings


def _drain(ticks, bar, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            text, advance = ticks.get(timeout=0.2)
        except queue_module.Empty:
            continue
        except (EOFError, OSError, ValueError):
            return
        bar.set(text, advance)
