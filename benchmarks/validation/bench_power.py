"""Power of a paired comparison between two losses on the tiny suite, from measured runs.

    # one loss per command (each ~2 min on 2 idle cores), under the shared CPU lock:
    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py run --loss losses/dpo.py --seeds 5
    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py run --loss losses/ipo.py --seeds 5
    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py run --loss losses/slic.py --seeds 5
    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py analyze --losses dpo,slic
    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py analyze --losses dpo,ipo --tables verdict,end \
        --out benchmarks/results/power_dpo_ipo.json

``run`` trains a built-in loss (trusted, in-process: the sandbox adds ~1 s per seed and no noise)
on the default tiny suite and keeps its per-prompt tables at the KL budget, at the end and at step 0,
scored both against every reference answer (the suite's default) and against one reference answer per
sample (the previous protocol), plus per-seed wall time: benchmarks/results/power_runs/<loss>.json.

``analyze`` pairs the two losses on their common measured seeds and prompts. The per-cell
difference table d = a - b is split into seed, prompt and residual variance components (two-way
crossed random-effects ANOVA, harness.stats.crossed.mean_components' model: y = mu + a_s + b_p + e_sp), so that
Var(mean d) = s_seed^2 / S + s_prompt^2 / P + s_resid^2 / (S P). The minimum detectable difference
(paired, 80% power, two-sided alpha 0.05) for S seeds is found by simulation of the actual interval
(harness.stats.paired.paired_difference_ci on normal tables with those components): the smallest true
difference that the interval excludes 0 for in >= 80% of repetitions. The normal approximation
(z_0.975 + z_0.8) * sqrt(Var(mean d)) is reported beside it. The same analysis on the one-reference
tables gives the variance reduction of comparing every sample with every reference answer.
Writes benchmarks/results/power.json (or --out).

``board`` does the same analysis on a published board's records (any suite whose records carry
outcomes tables), pairing one loss with each other measured loss on the primary table:

    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_power.py board --board leaderboards/smol --against dpo \
        --out benchmarks/results/power_smol.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from harness.stats.paired import paired_difference_ci

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = RESULTS / "power_runs"
TABLES = ("verdict", "verdict_one", "end", "end_one", "reference", "reference_one")
Z = 1.959964 + 0.841621  # z_{0.975} + z_{0.80}
CONTROLS = ("zero", "reversed_dpo")  # losses/controls: not working losses, left out of the pooled SD


def run(loss: Path, seeds: int) -> dict:
    from harness.sandbox import open_session
    from harness.suites import SUITES
    from harness.suites.tiny.evaluate import train_seeds

    suite = SUITES.get("tiny")
    artifacts = suite.build(progress=False)
    t0 = time.perf_counter()
    session = open_session(loss, backend="none", trust=True)
    try:
        per_seed, arrays, _, timings = train_seeds(suite, artifacts, session, list(range(seeds)), suite.config.beta,
                                                   progress=False)
    finally:
        session.close()
    wall = time.perf_counter() - t0
    out = {"loss": loss.stem, "config_hash": suite.config_hash(), "seeds": list(range(seeds)),
           "status": [s["status"] for s in per_seed], "timings": timings, "wall_seconds": round(wall, 2),
           "seconds_per_seed": round(wall / seeds, 2), "loadavg": os.getloadavg(),
           "tables": {n: [None if a[n] is None else np.round(a[n], 6).tolist() for a in arrays] for n in TABLES}}
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{loss.stem}.json").write_text(json.dumps(out))
    return {k: v for k, v in out.items() if k != "tables"}


def components(d: np.ndarray) -> dict:
    """Seed, prompt and residual variance components of a (S, P) table (ANOVA, truncated at 0)."""
    s, p = d.shape
    g, row, col = d.mean(), d.mean(axis=1), d.mean(axis=0)
    ms_seed = p * ((row - g) ** 2).sum() / (s - 1)
    ms_prompt = s * ((col - g) ** 2).sum() / (p - 1)
    ms_res = ((d - row[:, None] - col[None, :] + g) ** 2).sum() / ((s - 1) * (p - 1))
    return {"seed": max(0.0, (ms_seed - ms_res) / p), "prompt": max(0.0, (ms_prompt - ms_res) / s),
            "residual": float(ms_res)}


def var_mean(c: dict, seeds: int, prompts: int) -> float:
    return c["seed"] / seeds + c["prompt"] / prompts + c["residual"] / (seeds * prompts)


def simulated_mdd(c: dict, seeds: int, prompts: int, reps: int, rng) -> float:
    """Smallest difference (grid of 0.25 points, searched upwards from 0.7 x the normal
    approximation) that the paired CI detects with >= 80% power."""
    start = max(0.0025, np.floor(0.7 * Z * np.sqrt(var_mean(c, seeds, prompts)) / 0.0025) * 0.0025)
    for delta in np.arange(start, 0.5, 0.0025):
        hits = 0
        for _ in range(reps):
            d = (delta + rng.normal(0, np.sqrt(c["seed"]), seeds)[:, None]
                 + rng.normal(0, np.sqrt(c["prompt"]), prompts)[None, :]
                 + rng.normal(0, np.sqrt(c["residual"]), (seeds, prompts)))
            hits += paired_difference_ci(d, np.zeros_like(d)).low > 0
        if hits / reps >= 0.8:
            return float(delta)
    return float("inf")


def _paired(a: dict, b: dict, name: str) -> np.ndarray:
    rows = [(x, y) for x, y in zip(a["tables"][name], b["tables"][name], strict=True)
            if x is not None and y is not None]
    return np.array([x for x, _ in rows]) - np.array([y for _, y in rows])


def analyze(losses: list[str], reps: int, max_seeds: int, tables: tuple[str, ...] = ("verdict",)) -> dict:
    a, b = (json.loads((RUNS / f"{n}.json").read_text()) for n in losses)
    if a["config_hash"] != b["config_hash"]:
        raise SystemExit(f"runs of different suite configs: {a['config_hash']} vs {b['config_hash']}")
    rng = np.random.default_rng(0)
    result = {"losses": losses, "config_hash": a["config_hash"], "seed_status": {n: r["status"] for n, r in
                                                                                  zip(losses, (a, b), strict=True)}}
    per_seed_wall = float(np.mean([a["seconds_per_seed"], b["seconds_per_seed"]]))
    for name in tables:
        for mode, suffix in (("all_references", ""), ("one_reference", "_one")):
            d = _paired(a, b, name + suffix)
            c = components(d)
            s, p = d.shape
            est = paired_difference_ci(d, np.zeros_like(d))
            mdd = {str(k): {"simulated": round(simulated_mdd(c, k, p, reps, rng), 4),
                            "normal_approx": round(Z * np.sqrt(var_mean(c, k, p)), 4),
                            "wall_seconds": round(k * per_seed_wall, 1)}
                   for k in range(2, max_seeds + 1)}
            result[f"{name}_{mode}"] = {"seeds_measured_in_both": s, "prompts": p,
                                        "difference": round(float(d.mean()), 4),
                                        "difference_ci": [round(est.low, 4), round(est.high, 4)],
                                        "components": {k: float(f"{v:.4g}") for k, v in c.items()},
                                        "mdd": mdd}
        all_c = result[f"{name}_all_references"]["components"]
        one_c = result[f"{name}_one_reference"]["components"]
        s5 = 5
        p = result[f"{name}_all_references"]["prompts"]
        result[f"{name}_variance_reduction"] = {
            "residual_ratio": round(all_c["residual"] / one_c["residual"], 3),
            "var_mean_ratio_at_5_seeds": round(var_mean(all_c, s5, p) / var_mean(one_c, s5, p), 3)}
    result["seconds_per_seed"] = {n: r["seconds_per_seed"] for n, r in zip(losses, (a, b), strict=True)}
    result["run_loadavg"] = {n: r["loadavg"] for n, r in zip(losses, (a, b), strict=True)}
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    return result


def _finite(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


def board_power(folder: Path, against: str, reps: int, seed_counts=(3, 5, 8, 10)) -> dict:
    """Per loss on the board: its paired difference with ``against`` (measured seeds of both, primary
    table), the variance components and the simulated MDD at ``seed_counts`` seeds."""
    from benchmarks.experiments.agreement import board

    # verified records only (sealed by this machine's board key: `harness leaderboard --seal`)
    bd = board([json.loads(p.read_text()) for p in sorted((folder / "records").glob("*.json"))])
    if against not in bd.records:
        raise SystemExit(f"{against!r} is not on {folder}")
    rng = np.random.default_rng(0)
    base, pairs = bd.rows(against), {}
    for loss in sorted(set(bd.records) - {against}):
        keep = ~np.all(np.isnan(base), axis=1) & ~np.all(np.isnan(bd.rows(loss)), axis=1)
        if keep.sum() < 2:
            pairs[loss] = {"skipped": f"fewer than 2 seeds measured in both ({int(keep.sum())})"}
            continue
        d = base[keep] - bd.rows(loss)[keep]
        c = components(d)
        est = paired_difference_ci(d, np.zeros_like(d))
        burst = _burst_mask(bd.records[against], len(keep)) | _burst_mask(bd.records[loss], len(keep))
        calm = keep & ~burst
        d_calm = base[calm] - bd.rows(loss)[calm]
        pairs[loss] = {"difference": round(float(d.mean()), 4), "difference_ci": [round(est.low, 4), round(est.high, 4)],
                       "separated": bool(est.low > 0 or est.high < 0), "seeds": int(keep.sum()),
                       # SD over seeds of the per-seed mean difference: the regime study's "paired SD"
                       "seed_sd": round(float(d.mean(axis=1).std(ddof=1)), 5),
                       "control": loss in CONTROLS, "any_burst": bool(burst.any()),
                       # the calm-seed reading's: seeds where neither loss burst (harness.suites.tiny.summary)
                       "calm_seeds": int(calm.sum()),
                       "calm_seed_sd": round(float(d_calm.mean(axis=1).std(ddof=1)), 5) if calm.sum() >= 2 else None,
                       "components": {k: float(f"{v:.4g}") for k, v in c.items()},
                       # None: no difference below 50 points reaches 80% power at that seed count
                       "mdd": {str(k): _finite(simulated_mdd(c, k, d.shape[1], reps, rng)) for k in seed_counts}}
    measured = [p for p in pairs.values() if "mdd" in p]
    working = [p for p in measured if not p["control"]]
    pooled = {"all working": pooled_sd(working),
              "working, no seed burst in either": pooled_sd([p for p in working if not p["any_burst"]]),
              "all working, calm seeds (burst seeds left out)": pooled_sd(
                  [{"seeds": p["calm_seeds"], "seed_sd": p["calm_seed_sd"]} for p in working if p["calm_seed_sd"] is not None])}
    median = {str(k): float(np.median([np.inf if p["mdd"][str(k)] is None else p["mdd"][str(k)] for p in measured]))
              for k in seed_counts} if measured else {}
    median = {k: _finite(v) for k, v in median.items()}
    return {"board": str(folder), "suite": bd.suite, "config_hash": bd.config_hash, "table": bd.table,
            "against": against, "pairs": pairs, "median_mdd": median, "reps": reps, "pooled_paired_sd": pooled}


def _burst_mask(record: dict, seeds: int) -> np.ndarray:
    """Per seed row of the board table, whether that seed burst (the record's ``per_seed[i]["burst"]``;
    a record without the field counts as calm)."""
    flags = [s.get("burst") is True for s in record["per_seed"]]
    return np.array(flags + [False] * (seeds - len(flags)))[:seeds]


def pooled_sd(pairs: list[dict]) -> dict:
    """The pooled SD over seeds of the per-seed paired difference (each pair's ``seed_sd`` weighted by its
    S - 1 degrees of freedom), with the normal-approximation MDD (80% power, two-sided 5%) it gives at
    3 and 5 seeds: (z_0.975 + z_0.8) x SD / sqrt(S). None without a pair."""
    df = sum(p["seeds"] - 1 for p in pairs)
    if not df:
        return {"pairs": 0, "sd": None}
    sd = float(np.sqrt(sum((p["seeds"] - 1) * p["seed_sd"] ** 2 for p in pairs) / df))
    return {"pairs": len(pairs), "df": df, "sd": round(sd, 5),
            "mdd_normal": {str(k): round(Z * sd / np.sqrt(k), 4) for k in (3, 5)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--loss", type=Path, required=True)
    r.add_argument("--seeds", type=int, default=5)
    an = sub.add_parser("analyze")
    an.add_argument("--losses", default="dpo,ipo")
    an.add_argument("--reps", type=int, default=400)
    an.add_argument("--max-seeds", type=int, default=10)
    an.add_argument("--tables", default="verdict", help="comma-separated: verdict, end")
    an.add_argument("--out", type=Path, default=RESULTS / "power.json")
    bo = sub.add_parser("board")
    bo.add_argument("--board", type=Path, required=True)
    bo.add_argument("--against", default="dpo")
    bo.add_argument("--reps", type=int, default=300)
    bo.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.cmd == "board":
        result = board_power(args.board, args.against, args.reps)
        result.update(command=f"benchmarks/validation/bench_power.py board --board {args.board} --against {args.against} "
                              f"--reps {args.reps} --out {args.out}", loadavg=os.getloadavg())
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({k: result[k] for k in ("suite", "median_mdd", "pooled_paired_sd")}), flush=True)
        for loss, p in result["pairs"].items():
            print(loss, {k: p.get(k) for k in ("difference", "difference_ci", "separated", "mdd", "skipped")})
        return
    if args.cmd == "run":
        print(json.dumps(run(args.loss, args.seeds), indent=1))
        return
    result = analyze(args.losses.split(","), args.reps, args.max_seeds, tuple(args.tables.split(",")))
    result["command"] = (f"benchmarks/validation/bench_power.py analyze --losses {args.losses} --reps {args.reps} "
                         f"--max-seeds {args.max_seeds} --tables {args.tables}")
    result["analyze_loadavg"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
