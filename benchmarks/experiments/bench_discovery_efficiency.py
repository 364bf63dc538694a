"""Sample efficiency of the proposers: evolve against the random-search control at the same budget.

For each proposer, ``--runs`` independent searches (proposer seeds 0..R-1) of ``--budget`` candidates.
In each run, the candidate with the best search fitness among the first n (n = 1..budget) is
re-benched on fresh seeds (rebench.fresh_seeds, disjoint from the search seeds; each distinct
prefix-best once), giving the best RE-EVALUATED win rate reached after n candidates. The curve is
its mean over runs with a t interval over runs (runs are independent; R >= 2 for an interval).
Candidates that were never a prefix-best are not re-benched (they cannot be the curve's value).
Beside it, from the archives alone (no extra bench), what each proposer itself proposed (the shared
seed population left out): the best search fitness among its proposals after n candidates (one seed,
labelled as search fitness: not re-evaluated, biased upward) and the fraction of them measured.

Full figure (about 2 x 3 x 1 h of this machine's CPU for budget 200; run it on an idle machine):
    python benchmarks/experiments/bench_discovery_efficiency.py --budget 200 --runs 3 --out /tmp/bench_eff
A finished search of the same settings (for example the committed run, evolve seed 0 at --parallel 2)
stands in for one run with --reuse evolve:0=DIR: its first --budget candidates in search order are the
run (the proposers do not depend on the budget), checked against the settings the bench would use.
--records DIR (repeatable) offers finished bench records for re-use: a prefix-best whose loss hash,
seeds and suite config hash match a record there is not benched again (a record is deterministic for a
fixed seed and thread policy), e.g. the committed run's finalize/ folder, which benches on the same
fresh seeds.
Rerunning with the same --out resumes: finished searches are kept (a larger --budget extends them), a
stopped one resumes, and re-evaluations already made there are re-used.
Tiny-budget proof that it works (minutes):
    python benchmarks/experiments/bench_discovery_efficiency.py --budget 3 --runs 2 --micro --reeval-seeds 2 --out /tmp/bench_eff
Writes OUT/efficiency.json and OUT/efficiency.png; prints the load average beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_config(out: Path, proposer: str, seed: int, args, overrides: dict) -> DiscoveryConfig:
    return DiscoveryConfig(out_dir=str(out), proposer=proposer, budget=args.budget, parallel=args.parallel,
                           seed=seed, progress=False,
                           eval=EvalSettings(suite=args.suite, seeds=1, evaluator=args.evaluator, overrides=overrides),
                           finalize=FinalizeSettings(top_k=0))


def reused_archive(folder: Path, config: DiscoveryConfig) -> Archive:
    """The archive of a finished search in ``folder``; ValueError unless it searched with ``config``'s
    settings (proposer, proposer seed, suite, seeds per candidate, evaluator, overrides) and holds at
    least the budget."""
    archive = Archive(folder / "archive.sqlite")
    saved, wanted = archive.get_run("identity"), config.search_identity()
    if saved != wanted:
        archive.close()
        raise ValueError(f"{folder}: its search settings {saved} differ from this bench's {wanted}; "
                         "reuse only a run made with the same settings")
    count = archive.count()
    if count < config.budget:
        archive.close()
        raise ValueError(f"{folder}: {count} candidates, fewer than --budget {config.budget}")
    return archive


class RecordPool:
    """Finished bench records, keyed by (loss sha256, suite config hash); re-used instead of a re-bench."""

    def __init__(self, folders: list[Path]):
        self.records: dict[tuple[str, str], dict] = {}
        for folder in folders:
            for path in sorted(Path(folder).glob("*.json")):
                try:
                    record = json.loads(path.read_text())
                    key = (record["loss"]["sha256"], record["suite"]["config_hash"])
                except (ValueError, KeyError, TypeError):
                    continue
                self.records[key] = {**record, "record_path": str(path)}
        self.hits = 0

    def get(self, sha256: str, config_hash: str) -> dict | None:
        record = self.records.get((sha256, config_hash))
        self.hits += record is not None
        return record

    def add(self, record: dict) -> None:
        try:
            self.records[(record["loss"]["sha256"], record["suite"]["config_hash"])] = record
        except (KeyError, TypeError):
            pass


def reeval_config_hash(args, overrides: dict, seeds: list[int]) -> str:
    if args.evaluator == "fake":
        return f"fake-{args.suite}"  # what rebench.fake_record writes
    from harness.suites import get_suite

    return get_suite(args.suite).with_overrides({**overrides, "seeds": list(seeds)}).config_hash()


def one_run(out: Path, proposer: str, seed: int, args, overrides: dict, pool: RecordPool,
            reuse: Path | None = None) -> dict:
    config = run_config(out, proposer, seed, args, overrides)
    t0 = time.monotonic()
    if reuse is not None:
        archive = reused_archive(reuse, config)
        out.mkdir(parents=True, exist_ok=True)
    else:
        # a search left in OUT by a stopped bench resumes (DiscoveryError if its settings differ)
        run_discovery(config, resume=(out / "archive.sqlite").exists())
        archive = Archive(out / "archive.sqlite")
    search_s = archive.get_run("search_wall_s", 0.0) * config.budget / max(archive.count(), 1)
    done = [c for c in archive.all() if c.status != "duplicate"][:config.budget]
    seeds = rebench.fresh_seeds(rebench.search_seed_list(args.suite, args.evaluator, 1, overrides), args.reeval_seeds)
    config_hash = reeval_config_hash(args, overrides, seeds)
    best, curve, cache = None, [], {}
    proposed = proposal_curves(done)
    for c in done:
        if c.fitness is not None and (best is None or c.fitness > best.fitness):
            best = c
        if best is not None and best.id not in cache:
            record = pool.get(best.sha256, config_hash)
            if record is None:
                path = out / "candidates" / f"{best.id:05d}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(best.code)
                record = rebench.bench(path, evaluator=args.evaluator, suite=args.suite, seeds=seeds,
                                       overrides=overrides, out_dir=out / "reeval")
                pool.add(record)
            cache[best.id] = own_estimate(record, 0.95).get("reeval_win_rate")
        curve.append(None if best is None else cache[best.id])
    archive.close()
    return {"proposer": proposer, "seed": seed, "curve": curve, **proposed, "search_seconds": search_s,
            "reused": None if reuse is None else str(reuse), "reevaluated": len(cache),
            "seconds": time.monotonic() - t0}


def proposal_curves(done: list) -> dict:
    """What the proposer itself proposed (the seed population, shared by both proposers, left out), per
    n candidates: ``proposed_best_search`` (the best SEARCH fitness among its proposals so far; one
    seed, not re-evaluated, so biased upward by the winner's curse; None before one was measured) and
    ``proposed_measured`` (the fraction of its proposals so far with a measured fitness)."""
    best, measured, proposals, best_curve, measured_curve = None, 0, 0, [], []
    for c in done:
        if c.meta.get("operator") != "seed":
            proposals += 1
            if c.fitness is not None:
                measured += 1
                best = c.fitness if best is None else max(best, c.fitness)
        best_curve.append(best)
        measured_curve.append(measured / proposals if proposals else None)
    return {"proposed_best_search": best_curve, "proposed_measured": measured_curve}


def band(curves: list[list], bounds: tuple[float, float] = (0.0, 1.0)) -> list[dict]:
    """Per n: mean over runs and a 95% t interval over runs (runs with no value at n are left out),
    clipped to ``bounds`` (every curve here is a rate in [0, 1]: clipping drops only impossible values).
    Coverage: tests/test_bench_discovery_efficiency.py simulates runs with known means."""
    out = []
    for i in range(len(curves[0])):
        vals = np.array([c[i] for c in curves if c[i] is not None], dtype=float)
        if len(vals) == 0:
            out.append({"n": i + 1, "mean": None, "ci": None, "runs": 0})
            continue
        half = float(stats.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None
        m = float(vals.mean())
        ci = None if half is None else [max(bounds[0], m - half), min(bounds[1], m + half)]
        out.append({"n": i + 1, "mean": m, "ci": ci, "runs": len(vals)})
    return out


def difference_at_budget(runs: list[dict], key: str, a: str = "evolve", b: str = "random") -> dict | None:
    """``a`` minus ``b`` at the last n of the per-run curve ``key``: the difference of the means over
    runs with a 95% Welch t interval (runs of different proposers are independent, not paired; scipy's
    ``ttest_ind(equal_var=False)``). None unless both have at least 2 runs with a value; a difference
    with no spread at all (every run the same value) has the interval [d, d]. Coverage:
    tests/test_bench_discovery_efficiency.py."""
    xa = np.array([r[key][-1] for r in runs if r["proposer"] == a and r[key][-1] is not None], dtype=float)
    xb = np.array([r[key][-1] for r in runs if r["proposer"] == b and r[key][-1] is not None], dtype=float)
    if len(xa) < 2 or len(xb) < 2:
        return None
    d = float(xa.mean() - xb.mean())
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return {"difference": d, "ci": [d, d], "p_value": None, "runs": [len(xa), len(xb)]}
    test = stats.ttest_ind(xa, xb, equal_var=False)
    ci = test.confidence_interval(0.95)
    return {"difference": d, "ci": [float(ci.low), float(ci.high)], "p_value": float(test.pvalue),
            "runs": [len(xa), len(xb)]}


def curves(runs: list[dict], proposers: list[str], key: str) -> dict:
    """Per proposer: ``band`` over its runs of the per-run curve ``key``."""
    return {q: band([r[key] for r in runs if r["proposer"] == q])
            for q in proposers if any(r["proposer"] == q for r in runs)}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("curves", "best re-evaluated win rate\n(fresh seeds)"),
              ("proposed_best_search", "best SEARCH fitness of its own\nproposals (1 seed, not re-evaluated)"),
              ("proposed_measured", "fraction of its proposals\nmeasured (reached the KL budget)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name, rows in result[key].items():
            xs = [r["n"] for r in rows if r["mean"] is not None]
            ax.plot(xs, [r["mean"] for r in rows if r["mean"] is not None], label=name)
            ci = [(r["n"], *r["ci"]) for r in rows if r["ci"]]
            if ci:
                n, lo, hi = zip(*ci, strict=True)
                ax.fill_between(n, lo, hi, alpha=0.2)
        ax.set_xlabel("candidates evaluated")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"evolve vs random, mean over runs with a 95% t interval over runs (budget {result['budget']})")
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
    ap.add_argument("--reuse", action="append", default=[], metavar="PROPOSER:SEED=DIR",
                    help="a finished search with this bench's settings stands in for that run")
    ap.add_argument("--records", action="append", default=[], type=Path, metavar="DIR",
                    help="finished bench records to re-use for re-evaluations (matched on loss hash and config)")
    args = ap.parse_args()
    overrides = dict(MICRO) if args.micro else {}
    reuse = {}
    for spec in args.reuse:
        try:
            key, folder = spec.split("=", 1)
            proposer, seed = key.split(":")
            reuse[(proposer, int(seed))] = Path(folder)
        except ValueError:
            ap.error(f"--reuse {spec!r}: expected PROPOSER:SEED=DIR, e.g. evolve:0=discoveries/tiny-evolve-2026-12-01")
    # re-evaluations a stopped bench already made in OUT are re-used like --records
    pool = RecordPool(args.records + sorted(args.out.glob("*/reeval")))
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    # run seed by seed, every proposer at each, writing the result after each run: a bench stopped
    # early still leaves comparable curves (marked complete: false)
    plan = [(p, s) for s in range(args.runs) for p in args.proposers]
    for p, s in plan:
        runs.append(one_run(args.out / f"{p}-{s}", p, s, args, overrides, pool, reuse.get((p, s))))
        result = {"budget": args.budget, "runs": args.runs, "suite": args.suite, "evaluator": args.evaluator,
                  "parallel": args.parallel, "overrides": overrides, "reeval_seeds": args.reeval_seeds,
                  "complete": len(runs) == len(plan), "records_reused": pool.hits,
                  "wall_s": round(time.monotonic() - t0, 1), "load_average": os.getloadavg(),
                  "curves": curves(runs, args.proposers, "curve"),
                  "proposed_best_search": curves(runs, args.proposers, "proposed_best_search"),
                  "proposed_measured": curves(runs, args.proposers, "proposed_measured"),
                  "evolve_minus_random_at_budget": {key: difference_at_budget(runs, key) for key in
                                                    ("curve", "proposed_best_search", "proposed_measured")},
                  "per_run": runs}
        (args.out / "efficiency.json").write_text(json.dumps(result, indent=2))
        plot(result, args.out / "efficiency.png")
    for p, rows in result["curves"].items():
        last, own, measured = rows[-1], result["proposed_best_search"][p][-1], result["proposed_measured"][p][-1]
        print(f"{p}: best re-evaluated win rate after {last['n']} candidates: {last['mean']} CI {last['ci']} "
              f"({last['runs']} runs); its own proposals: best search fitness {own['mean']} CI {own['ci']}, "
              f"measured {measured['mean']} CI {measured['ci']}")
    for key, diff in result["evolve_minus_random_at_budget"].items():
        if diff is not None:
            print(f"evolve - random at {args.budget} candidates, {key}: {diff['difference']:+.4f} "
                  f"CI [{diff['ci'][0]:+.4f}, {diff['ci'][1]:+.4f}] (Welch, runs {diff['runs']})")
    print(f"load average {result['load_average']}; wrote {args.out / 'efficiency.json'}")


if __name__ == "__main__":
    main()
