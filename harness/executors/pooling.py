"""One seed per container, pooled in the controller: which suites can, and how.

A suite can be split by seed when its cross-seed statistics are computed from per-seed, per-prompt
arrays: tiny's matched-KL protocol (harness.suites.tiny.evaluate.train_seeds, then
harness.suites.tiny.metrics.aggregate: the crossed seeds x prompts CIs and outcome tables). A container
runs ``run_seed`` for its seed; the controller calls ``pool`` on every seed's output, which gives the
same numbers as one process running all the seeds (JSON floats round-trip exactly).
"""

from __future__ import annotations

POOLED_SUITES = ("tiny",)


def poolable(suite) -> bool:
    return suite.name in POOLED_SUITES


def run_seed(suite, artifacts, session, seed: int, beta: float | None) -> dict:
    """Inside the container: train and evaluate one seed; its metrics and per-prompt arrays (JSON-ready)."""
    from harness.suites.tiny.evaluate import train_seeds

    beta = suite.config.beta if beta is None else beta
    per_seed, arrays, judge, timings = train_seeds(suite, artifacts, session, [seed], beta, progress=False)
    lists = [{k: None if v is None else [float(x) for x in v] for k, v in a.items()} for a in arrays]  # None: not measured
    return {"per_seed": per_seed, "judge": judge, "timings": timings, "arrays": lists}


def pool(suite, candidates: list[dict], prompts: list[str]):
    """In the controller: the seeds' outputs (in seed order) as one ``SuiteResult``, with the outcome
    tables over ``prompts`` (the suite's evaluation prompts, in table order), as ``run_seeds`` gives."""
    import numpy as np

    from harness.suites import SuiteResult
    from harness.suites.tiny.metrics import aggregate

    per_seed = [c["per_seed"][0] for c in candidates]
    arrays = [{k: None if v is None else np.asarray(v, dtype=float) for k, v in c["arrays"][0].items()}
              for c in candidates]
    timings: dict[str, float] = {}
    for c in candidates:
        for k, v in c.get("timings", {}).items():
            timings[k] = timings.get(k, 0.0) + v
    metrics = aggregate(per_seed, arrays, suite.config.eval, prompts)
    outcomes = metrics.pop("outcomes")
    return SuiteResult(per_seed, metrics, candidates[0]["judge"], timings, outcomes)
