"""Sample efficiency of the proposers: evolve against the random-search control at the same budget.

For each proposer, ``--runs`` independent searches (proposer seeds 0..R-1) of ``--budget`` candidates.
In each run, the candidate with the best search fitness among the first n (n = 1..budget) is
re-benched on fresh seeds (rebench.fresh_seeds, disjoint from the search seeds; each distinct
prefix-best once), giving the best RE-EVALUATED win rate reached after n candidates. The curve is
its mean over runs with a t interval over runs (runs are independent; R >= 2 for an interval).
Candidates that were never a prefix-best are not re-benched (they cannot be the curve's value).

Full figure (about 2 x 3 x 1 h of this machine's CPU for budget 200; run it on an idle machine):
    python benchmarks/bench_discovery_efficiency.py --budget 200 --runs 3 --out /tmp/bench_eff
Tiny-budget proof that it works (minutes):
    python benchmarks/bench_discovery_efficiency.py --budget 3 --runs 2 --micro --reeval-seeds 2 --out /tmp/bench_eff
Writes OUT/efficiency.json and OUT/efficiency.png; prints the load average beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from scipy import stats

from harness.discovery import rebench
from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.finalize import own_estimate
from harness.discovery.loop import run_discovery

MICRO = {"data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20,
         "sft.batch_size": 16, "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8,
         "train.checkpoint_every": 2, "eval.resamples": 100, "eval.kl_budgets": [0.002, 0.001]}


def one_run(out: Path, proposer: str, seed: int, args, overrides: dict) -> dict:
    if out.exists():
        shutil.rmtree(out)
    config = DiscoveryConfig(out_dir=str(out), proposer=proposer, budget=args.budget, parallel=args.parallel,
                             seed=seed, progress=False,
                             eval=EvalSettings(suite=args.suite, seeds=1, evaluator=args.evaluator, overrides=overrides),
                             finalize=FinalizeSettings(top_k=0))
    t0 = time.monotonic()
    run_discovery(config)
    search_s = time.monotonic() - t0
    archive = Archive(out / "archive.sqlite")
    done = [c for c in archive.all() if c.status != "duplicate"]
    seeds = rebench.fresh_seeds(rebench.search_seed_list(args.suite, args.evaluator, 1, overrides), args.reeval_seeds)
    best, curve, cache = None, [], {}
    for c in done:
        if c.fitness is not None and (best is None or c.fitness > best.fitness):
            best = c
        if best is not None and best.id not in cache:
            path = out / "candidates" / f"{best.id:05d}.py"
            path.write_text(best.code)
            record = rebench.bench(path, evaluator=args.evaluator, suite=args.suite, seeds=seeds,
                                   overrides=overrides, out_dir=out / "reeval")
            cache[best.id] = own_estimate(record, 0.95).get("reeval_win_rate")
        curve.append(None if best is None else cache[best.id])
    archive.close()
    return {"proposer": proposer, "seed": seed, "curve": curve, "search_seconds": search_s,
            "reevaluated": len(cache), "seconds": time.monotonic() - t0}


def band(curves: list[list]) -> list[dict]:
    """Per n: mean over runs and a 95% t interval over runs (runs with no value at n are left out)."""
    out = []
    for i in range(len(curves[0])):
        vals = np.array([c[i] for c in curves if c[i] is not None], dtype=float)
        if len(vals) == 0:
            out.append({"n": i + 1, "mean": None, "ci": None, "runs": 0})
            continue
        half = float(stats.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None
        m = float(vals.mean())
        out.append({"n": i + 1, "mean": m, "ci": None if half is None else [m - half, m + half], "runs": len(vals)})
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in result["curves"].items():
        xs = [r["n"] for r in rows if r["mean"] is not None]
        ax.plot(xs, [r["mean"] for r in rows if r["mean"] is not None], label=name)
        ci = [(r["n"], *r["ci"]) for r in rows if r["ci"]]
        if ci:
            n, lo, hi = zip(*ci, strict=True)
            ax.fill_between(n, lo, hi, alpha=0.2)
    ax.set_xlabel("candidates evaluated")
    ax.set_ylabel("best re-evaluated win rate (fresh seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--suite", default="tiny")
    ap.add_argument("--evaluator", default="bench", help="bench, cascade, or fake (instant, for a dry run)")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--reeval-seeds", type=int, default=3)
    ap.add_argument("--micro", action="store_true", help="the micro tiny suite of the tests (seconds a bench)")
    ap.add_argument("--proposers", nargs="+", default=["evolve", "random"])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_discovery_efficiency"))
    args = ap.parse_args()
    overrides = dict(MICRO) if args.micro else {}
    runs = [one_run(args.out / f"{p}-{s}", p, s, args, overrides) for p in args.proposers for s in range(args.runs)]
    result = {"budget": args.budget, "runs": args.runs, "suite": args.suite, "evaluator": args.evaluator,
              "overrides": overrides, "reeval_seeds": args.reeval_seeds, "load_average": os.getloadavg(),
              "curves": {p: band([r["curve"] for r in runs if r["proposer"] == p]) for p in args.proposers},
              "per_run": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "efficiency.json").write_text(json.dumps(result, indent=2))
    plot(result, args.out / "efficiency.png")
    for p, rows in result["curves"].items():
        last = rows[-1]
        print(f"{p}: best re-evaluated win rate after {last['n']} candidates: {last['mean']} CI {last['ci']} "
              f"({last['runs']} runs)")
    print(f"load average {result['load_average']}; wrote {args.out / 'efficiency.json'}")


if __name__ == "__main__":
    main()
