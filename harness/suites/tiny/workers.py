"""Seeds side by side in worker processes: the tiny suite's half of the CPU policy (harness.runtime).

Each worker is a spawned process (no forked torch or thread state) with ``train.threads`` torch
threads. It loads the suite's built artifacts, opens its own sandbox session on the very loss bytes
the parent read (harness.sandbox.SessionSpec), and trains whole seeds with the sequential path's own
code (harness.suites.tiny.evaluate), so a seed's numbers are the same whichever process runs it and
however many run. A seed is trained by one worker and evaluated by whichever is free next, from the
weights the training kept on disk. Training steps flow back over a queue to the parent's progress bar; a candidate
failure in a worker (LossCallError: diverged, timeout, ...) is raised in the parent as it was raised
there, and the other workers are stopped.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed

_state: dict = {}  # the worker process's own: its _Seeds (artifacts, judge, reference model, session)


def _start(suite, session_spec, beta: float, ticks) -> None:
    import atexit

    import torch

    from harness.runtime import tune_allocator, tune_gc
    from harness.suites.tiny.evaluate import _Seeds

    torch.set_num_threads(suite.config.train.threads)
    tune_allocator()
    artifacts = suite.build(progress=False)
    session = session_spec.open()
    atexit.register(session.close)
    tune_gc()
    _state["seeds"] = _Seeds(suite, artifacts, session, beta, 0, False, ticks=ticks)


def _train(seed: int, folder: str) -> dict:
    from harness.suites.tiny.evaluate import StepWeights

    state = _state["seeds"]
    before = dict(state.timings)
    state.train_weights(seed, StepWeights(folder))
    return {k: v - before.get(k, 0.0) for k, v in state.timings.items()}


def _evaluate(seed: int, folder: str):
    from harness.suites.tiny.evaluate import StepWeights
    from harness.suites.tiny.metrics import seed_metrics

    state = _state["seeds"]
    before = dict(state.timings)
    trajectory, crossings = state.evaluate_weights(seed, StepWeights(folder))
    metrics, arrays = seed_metrics(seed, trajectory, crossings, state.cfg.eval)
    spent = {k: v - before.get(k, 0.0) for k, v in state.timings.items()}
    return metrics, arrays, spent, {"id": state.judge.id, "hash": state.judge.hash}


def train_seeds_in_processes(suite, session_spec, seeds: list[int], beta: float, processes: int, bar):
    """(per_seed metrics, arrays, judge_info, summed stage timings) for ``seeds`` trained in
    ``processes`` worker processes; ``bar`` (evaluate._Progress) advances by the workers' steps.
    Results come back in ``seeds`` order.

    Each seed is two tasks: training, which keeps every step's weights in a scratch folder, and then
    evaluating those weights, queued as soon as the training ends. Any free worker takes the next task,
    so with more seeds than workers the last seed's evaluation does not wait behind its own training on
    one worker while the others idle (3 seeds on 2 workers: about 2.5 seeds' time instead of 3)."""
    ctx = multiprocessing.get_context("spawn")
    ticks = ctx.Queue()
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(ticks, bar, stop), daemon=True, name="harness-seed-ticks")
    drain.start()
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=ctx, initializer=_start,
                               initargs=(suite, session_spec, beta, ticks))
    scratch = tempfile.TemporaryDirectory(prefix="harness-weights-")
    try:
        trainings = {pool.submit(_train, seed, f"{scratch.name}/{seed}"): seed for seed in seeds}
        evaluations = {}
        train_spent = []
        for done in as_completed(trainings):
            train_spent.append(done.result())  # a candidate failure is raised here
            seed = trainings[done]
            evaluations[seed] = pool.submit(_evaluate, seed, f"{scratch.name}/{seed}")
        results = [evaluations[seed].result() for seed in seeds]
    finally:  # on a failure the tasks not yet started are cancelled; running ones end with their worker
        pool.shutdown(wait=True, cancel_futures=True)
        stop.set()
        drain.join(timeout=5)
        ticks.close()
        scratch.cleanup()
    timings: dict[str, float] = {}
    for spent in [*train_spent, *(r[2] for r in results)]:
        for k, v in spent.items():
            timings[k] = timings.get(k, 0.0) + v
    return [r[0] for r in results], [r[1] for r in results], results[0][3], timings


def _drain(ticks, bar, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            text, advance = ticks.get(timeout=0.2)
        except queue_module.Empty:
            continue
        except (EOFError, OSError, ValueError):
            return
        bar.set(text, advance)
