"""Coverage of the LC win rate's bootstrap 95% CI by number of prompts (harness.judges.winrate).

Known truth: a length-biased judge, P(win) = sigmoid(logit(lc) + slope * tanh(d / sd(d))), binary
verdicts, the policy's answers ~300 characters longer than the references. For each number of
prompts, the share of replications whose CI holds the true LC. The smallest n where every scenario
reaches 90% coverage sets ``winrate.MIN_LC_PROMPTS``.

    PYTHONPATH=. python benchmarks/validation/bench_lc_coverage.py [--reps 200] [--resamples 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from harness.judges.winrate import length_controlled_win_rate


def coverage(n: int, lc: float, slope: float, reps: int, resamples: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for r in range(reps):
        ref = rng.normal(800, 150, n)
        out = ref + rng.normal(300, 400, n)
        d = out - ref
        feature = np.tanh(d / d.std()) if d.std() > 0 else np.zeros(n)
        p = 1 / (1 + np.exp(-(np.log(lc / (1 - lc)) + slope * feature)))
        verdicts = rng.binomial(1, p).astype(float)
        est = length_controlled_win_rate(verdicts, out, ref, resamples=resamples, seed=r)
        hits += est.low <= lc <= est.high
    return hits / reps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--sizes", default="10,20,30,50,100")
    args = parser.parse_args()
    start = time.perf_counter()
    print("n_prompts  lc   slope  coverage")
    for n in map(int, args.sizes.split(",")):
        for lc in (0.5, 0.8, 0.9):
            for slope in (0.0, 1.5):
                c = coverage(n, lc, slope, args.reps, args.resamples)
                print(f"{n:9d}  {lc:.1f}  {slope:5.1f}  {c:.3f}", flush=True)
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
