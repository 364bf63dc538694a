"""Does the cascade's screen drop candidates the full bench ranks high, and what does it save?

A sample of candidates (the random proposer's stream, seed 0: baselines first, then random trees,
the kind of stream a search screens) is run BOTH ways: the screen (harness.discovery.cascade: short
run + screen_decision) and the full one-seed bench. Reports: candidates the screen stopped, the
full-bench rank of each of them (a stopped candidate in the full bench's top quarter is a miss),
seconds per candidate each way, and effective candidates per hour (screen cost for all + full bench
for survivors, against full bench for all).

Small sample (minutes):   python benchmarks/experiments/bench_discovery_cascade.py --sample 4 --micro
Larger one (about 1 h):   python benchmarks/experiments/bench_discovery_cascade.py --sample 40

--from-run DIR takes the sample from a finished search instead (evenly spaced over its evaluated
candidates, in search order) and uses the search's own one-seed bench as the full run (same suite
config and seed, so the same record): only the screens run, --parallel at a time with one torch thread
each, as the search's workers ran (the full seconds are the search's eval_seconds, at its --parallel):
    python benchmarks/experiments/bench_discovery_cascade.py --from-run discoveries/tiny-evolve-2026-12-01 --sample 40 --parallel 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from harness.discovery import rebench
from harness.discovery.archive import Archive
from harness.discovery.cascade import screen_decision, screen_overrides
from harness.discovery.config import DiscoveryConfig, EvalSettings, config_from_dict
from harness.discovery.dedupe import code_key
from harness.discovery.evaluator import thread_overrides
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


def screen(path: Path, suite: str, overrides: dict, out: Path) -> dict:
    """One screen (short run + screen_decision) of the loss at ``path``: status, stopped, seconds."""
    slope: dict = {}
    t0 = time.monotonic()
    rec = rebench.bench(path, evaluator="bench", suite=suite, seeds=1, overrides=overrides, out_dir=out,
                        before_training=lambda r, s=slope: s.update(v=r.diagnostics.get("slope_at_zero")))
    stopped = rec["status"] != "ok" or screen_decision(rec, slope.get("v")) is not None
    return {"screen_status": rec["status"], "stopped": stopped, "screen_s": time.monotonic() - t0}


def from_run(folder: Path, n: int, out: Path, parallel: int) -> tuple[list[dict], dict, dict]:
    """Rows for ``n`` candidates of the finished search in ``folder`` (evenly spaced over its evaluated
    candidates): the search's bench as the full run, a screen run now. Returns (rows, overrides, short)."""
    archive = Archive(folder / "archive.sqlite")
    config = config_from_dict(archive.get_run("config"))
    done = [c for c in archive.all() if c.done and c.status not in ("duplicate", "screened")]
    archive.close()
    if config.eval.evaluator != "bench" or config.eval.seeds != 1:
        raise SystemExit(f"{folder}: --from-run needs a search with the full one-seed bench (evaluator bench, "
                         f"--seeds 1); this one used {config.eval.evaluator}, {config.eval.seeds} seeds")
    picked = [done[round(i * (len(done) - 1) / max(n - 1, 1))] for i in range(min(n, len(done)))]
    settings = EvalSettings(suite=config.eval.suite, overrides=dict(config.eval.overrides), threads=1)
    overrides = dict(config.eval.overrides)
    short = {**overrides, **thread_overrides(settings), **screen_overrides(settings)}
    (out / "losses").mkdir(parents=True, exist_ok=True)
    paths = []
    for c in picked:
        path = out / "losses" / f"{c.id:05d}.py"
        path.write_text(c.code)
        paths.append(path)
    with ProcessPoolExecutor(max_workers=parallel) as pool:
        screens = list(pool.map(screen, paths, [config.eval.suite] * len(paths), [short] * len(paths),
                                [out / "screen"] * len(paths)))
    rows = [{"name": f"{c.id:05d}", "id": c.id, **sc, "full_s": c.eval_seconds, "full_status": c.status,
             "full_win_rate": c.fitness} for c, sc in zip(picked, screens, strict=True)]
    return rows, overrides, short


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=8)
    ap.add_argument("--suite", default="tiny")
    ap.add_argument("--micro", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_discovery_cascade"))
    ap.add_argument("--from-run", type=Path, metavar="DIR", help="sample a finished search; only the screens run")
    ap.add_argument("--parallel", type=int, default=2, help="screens at a time with --from-run (one thread each)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = dict(MICRO) if args.micro else {}
    settings = EvalSettings(suite=args.suite, overrides=overrides)
    short = {**overrides, **screen_overrides(settings)}
    rows = []
    if args.from_run is not None:
        rows, overrides, short = from_run(args.from_run, args.sample, args.out, args.parallel)
    for path in [] if args.from_run is not None else sample(args.sample, args.out):
        sc = screen(path, args.suite, short, args.out / "screen")
        t0 = time.monotonic()
        full = rebench.bench(path, evaluator="bench", suite=args.suite, seeds=1, overrides=overrides,
                             out_dir=args.out / "full")
        rows.append({"name": path.stem, **sc,
                     "full_s": time.monotonic() - t0, "full_status": full["status"],
                     "full_win_rate": full["metrics"].get("win_rate") if full["status"] == "ok" else None})
    ranked = sorted((r for r in rows if r["full_win_rate"] is not None), key=lambda r: -r["full_win_rate"])
    top = {r["name"] for r in ranked[:max(1, len(ranked) // 4)]}
    misses = [r["name"] for r in rows if r["stopped"] and r["name"] in top]
    full_s = sum(r["full_s"] or 0.0 for r in rows)
    cascade_s = sum(r["screen_s"] + (0 if r["stopped"] else r["full_s"] or 0.0) for r in rows)
    result = {"sample": len(rows), "suite": args.suite, "from_run": None if args.from_run is None else str(args.from_run),
              "parallel": args.parallel if args.from_run is not None else 1,
              "overrides": overrides, "screen_overrides": short,
              "stopped": sum(r["stopped"] for r in rows), "top_quarter": sorted(top), "misses": misses,
              "full_per_hour": 3600 * len(rows) / full_s, "cascade_per_hour": 3600 * len(rows) / cascade_s,
              "load_average": os.getloadavg(), "rows": rows}
    (args.out / "cascade.json").write_text(json.dumps(result, indent=2))
    print(f"{result['stopped']}/{len(rows)} stopped by the screen; stopped among the full bench's top quarter: "
          f"{misses or 'none'}; candidates/hour full {result['full_per_hour']:.0f}, cascade "
          f"{result['cascade_per_hour']:.0f}; load average {result['load_average']}")


if __name__ == "__main__":
    main()
