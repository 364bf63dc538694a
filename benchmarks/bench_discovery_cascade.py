"""Does the cascade's screen drop candidates the full bench ranks high, and what does it save?

A sample of candidates (the random proposer's stream, seed 0: baselines first, then random trees,
the kind of stream a search screens) is run BOTH ways: the screen (harness.discovery.cascade: short
run + screen_decision) and the full one-seed bench. Reports: candidates the screen stopped, the
full-bench rank of each of them (a stopped candidate in the full bench's top quarter is a miss),
seconds per candidate each way, and effective candidates per hour (screen cost for all + full bench
for survivors, against full bench for all).

Small sample (minutes):   python benchmarks/bench_discovery_cascade.py --sample 4 --micro
Larger one (about 1 h):   python benchmarks/bench_discovery_cascade.py --sample 40
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from harness.discovery import rebench
from harness.discovery.archive import Archive
from harness.discovery.cascade import screen_decision, screen_overrides
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.dedupe import code_key
from harness.discovery.random_search import RandomProposer

MICRO = {"data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20,
         "sft.batch_size": 16, "sft.warmup_steps": 5, "train.steps": 8, "train.batch_size": 8,
         "train.checkpoint_every": 2, "eval.resamples": 100, "eval.kl_budgets": [0.002, 0.001]}


def sample(n: int, out: Path) -> list[Path]:
    archive = Archive(out / "sample.sqlite")
    proposer = RandomProposer(DiscoveryConfig(out_dir=str(out), proposer="random"))
    paths = []
    for i in range(n):
        p = proposer.propose(archive)
        archive.add(parent_ids=(), proposer="random", name=p.name, code=p.code, sha256="-", code_key=code_key(p.code))
        path = out / f"{i:03d}_{p.name}.py"
        path.write_text(p.code)
        paths.append(path)
    archive.close()
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=8)
    ap.add_argument("--suite", default="tiny")
    ap.add_argument("--micro", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_discovery_cascade"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = dict(MICRO) if args.micro else {}
    settings = EvalSettings(suite=args.suite, overrides=overrides)
    short = {**overrides, **screen_overrides(settings)}
    rows = []
    for path in sample(args.sample, args.out):
        slope: dict = {}
        t0 = time.monotonic()
        rec = rebench.bench(path, evaluator="bench", suite=args.suite, seeds=1, overrides=short,
                            out_dir=args.out / "screen",
                            before_training=lambda r, s=slope: s.update(v=r.diagnostics.get("slope_at_zero")))
        screen_s = time.monotonic() - t0
        stopped = rec["status"] != "ok" or screen_decision(rec, slope.get("v")) is not None
        t0 = time.monotonic()
        full = rebench.bench(path, evaluator="bench", suite=args.suite, seeds=1, overrides=overrides,
                             out_dir=args.out / "full")
        rows.append({"name": path.stem, "screen_status": rec["status"], "stopped": stopped, "screen_s": screen_s,
                     "full_s": time.monotonic() - t0, "full_status": full["status"],
                     "full_win_rate": full["metrics"].get("win_rate") if full["status"] == "ok" else None})
    ranked = sorted((r for r in rows if r["full_win_rate"] is not None), key=lambda r: -r["full_win_rate"])
    top = {r["name"] for r in ranked[:max(1, len(ranked) // 4)]}
    misses = [r["name"] for r in rows if r["stopped"] and r["name"] in top]
    full_s = sum(r["full_s"] for r in rows)
    cascade_s = sum(r["screen_s"] + (0 if r["stopped"] else r["full_s"]) for r in rows)
    result = {"sample": len(rows), "suite": args.suite, "overrides": overrides, "screen_overrides": short,
              "stopped": sum(r["stopped"] for r in rows), "top_quarter": sorted(top), "misses": misses,
              "full_per_hour": 3600 * len(rows) / full_s, "cascade_per_hour": 3600 * len(rows) / cascade_s,
              "load_average": os.getloadavg(), "rows": rows}
    (args.out / "cascade.json").write_text(json.dumps(result, indent=2))
    print(f"{result['stopped']}/{len(rows)} stopped by the screen; stopped among the full bench's top quarter: "
          f"{misses or 'none'}; candidates/hour full {result['full_per_hour']:.0f}, cascade "
          f"{result['cascade_per_hour']:.0f}; load average {result['load_average']}")


if __name__ == "__main__":
    main()
