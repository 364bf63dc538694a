"""Discovery throughput: candidates evaluated per hour on this machine, for --parallel 1 and 2.

Each setting runs a fresh `evolve` search on the given suite (real `harness check` + `harness bench`
in the sandbox) and measures wall-clock time from start to the last recorded result, worker start-up
included; the search alone (no re-evaluation of the top candidates at the end). Target: >= 60
candidates per hour with 2 workers on the tiny suite.

    .venv/bin/python benchmarks/speed/bench_discovery.py --budget 12 --parallel 1 2 --out /tmp/bench_discovery

A short run (--budget 4) gives a rough figure; the numbers depend on how busy the machine is, so
the script prints the load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from harness.discovery.archive import DUPLICATE, PENDING, Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.loop import run_discovery


def measure(out: Path, parallel: int, budget: int, suite: str, seeds: int, evaluator: str) -> dict:
    if out.exists():
        shutil.rmtree(out)
    config = DiscoveryConfig(out_dir=str(out), proposer="evolve", budget=budget, parallel=parallel,
                             progress=False, eval=EvalSettings(suite=suite, seeds=seeds, evaluator=evaluator),
                             finalize=FinalizeSettings(top_k=0))  # the search alone: no re-evaluation
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    result = run_discovery(config)
    wall = time.monotonic() - t0
    archive = Archive(out / "archive.sqlite")
    evaluated = [c for c in archive.all() if c.status not in (PENDING, DUPLICATE)]
    eval_s = [c.eval_seconds for c in evaluated if c.eval_seconds is not None]
    archive.close()
    return {
        "parallel": parallel, "budget": budget, "suite": suite, "seeds": seeds, "evaluated": len(evaluated),
        "wall_s": round(wall, 1), "per_hour": round(3600 * len(evaluated) / wall, 1),
        "mean_eval_s": round(sum(eval_s) / len(eval_s), 1) if eval_s else None,
        "statuses": result.status_counts, "best_fitness": result.best_fitness,
        "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=12, help="candidates per setting")
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--suite", default="tiny")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--evaluator", default="bench", help="bench (real) or fake (loop overhead only)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_discovery"))
    args = ap.parse_args()
    rows = [measure(args.out / f"parallel{k}", k, args.budget, args.suite, args.seeds, args.evaluator)
            for k in args.parallel]
    for r in rows:
        print(f"parallel {r['parallel']}: {r['evaluated']} candidates in {r['wall_s']} s = {r['per_hour']} per hour "
              f"(mean evaluation {r['mean_eval_s']} s; load {r['load_avg_before']} -> {r['load_avg_after']} "
              f"on {r['cpus']} CPUs; statuses {r['statuses']})")
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
