"""Coverage of the Spearman CI of benchmarks/experiments/agreement.py on simulations with known truth.

    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_agreement_coverage.py [--reps 200] [--resamples 400]

Two suites, 9 losses, 3 seeds; tiny-like 256 prompts and smol-like 128. Each loss's (seeds x prompts)
table comes from benchmarks/validation/simulation.py (Bernoulli comparisons on logit-scale prompt, loss x prompt and
cell effects; a seed effect of SD 0.03 or 0.08 on the win-rate scale). The truth is Spearman's rho
between the two suites' true means, in three settings: the same order (rho 1), partial agreement (0.82)
and none (0.03). Reported per setting: the coverage of the percentile, basic and reported (hull)
intervals, and the mean width.
Writes benchmarks/results/agreement_coverage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.experiments.agreement import spearman_bootstrap
from benchmarks.validation.simulation import NoiseModel, simulate

SETTINGS = {  # second suite's true win rates, against FIRST
    "same order": np.linspace(0.45, 0.75, 9),
    "partial": np.array([.45, .5, .62, .55, .7, .6, .75, .68, .72]),
    "none": np.array([.6, .5, .7, .55, .65, .5, .62, .58, .6]),
}
FIRST = np.linspace(0.4, 0.85, 9)


def spearman_coverage(first, second, noise: NoiseModel, *, reps: int, resamples: int, seeds: int = 3,
                      prompts: tuple[int, int] = (256, 128), rng_seed: int = 1) -> dict:
    """Coverage of ``benchmarks.experiments.agreement.spearman_bootstrap`` over ``reps`` simulated pairs of boards.

    Suite 1 holds losses with true win rates ``first`` on ``prompts[0]`` prompts, suite 2 the same
    losses with ``second`` on ``prompts[1]``; the truth is Spearman's rho between ``first`` and
    ``second``. Returns the truth, the coverage of the reported, percentile and basic intervals, and
    the reported interval's mean width.
    """
    truth = float(spearmanr(first, second).statistic)
    rng = np.random.default_rng(rng_seed)
    a = simulate(first, noise, seeds, prompts[0], reps, rng)
    b = simulate(second, noise, seeds, prompts[1], reps, rng)
    hits = {"spearman_ci": 0, "percentile_ci": 0, "basic_ci": 0}
    widths = []
    for r in range(reps):
        out = spearman_bootstrap(list(a[r]), list(b[r]), resamples=resamples, seed=r)
        for key in hits:
            hits[key] += out[key][0] <= truth <= out[key][1]
        widths.append(out["spearman_ci"][1] - out["spearman_ci"][0])
    return {"truth": truth, "coverage": hits["spearman_ci"] / reps, "coverage_percentile": hits["percentile_ci"] / reps,
            "coverage_basic": hits["basic_ci"] / reps, "mean_width": float(np.mean(widths)), "reps": reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--resamples", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/agreement_coverage.json"))
    args = ap.parse_args()
    start, load = time.time(), os.getloadavg()
    rows = []
    for name, second in SETTINGS.items():
        for sd in (0.03, 0.08):
            row = {"setting": name, "seed_sd": sd, **spearman_coverage(
                FIRST, second, NoiseModel(seed_sd=sd), reps=args.reps, resamples=args.resamples)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"rows": rows, "reps": args.reps, "resamples": args.resamples, "level": 0.95,
                                    "seconds": round(time.time() - start, 1), "load_average": [load, os.getloadavg()],
                                    "command": f"benchmarks/validation/bench_agreement_coverage.py --reps {args.reps} "
                                               f"--resamples {args.resamples}"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
