"""Coverage and width of harness.stats' crossed intervals on simulated tiny-board-shaped tables.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_stats_coverage.py [--reps 4000]

Settings: 256 prompts, win rates 0.84 and 0.80, S = 3 and 5 seeds, seed SD 0 / 0.02 / 0.04 / 0.08,
seed effects normal on the win-rate scale and (robustness) on the logit scale. Per setting: the
coverage of win_rate_ci and paired_difference_ci (nominal 0.95) and the mean half-width.
Writes benchmarks/results/stats_coverage.json and prints it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from harness.simulation import NoiseModel, simulate, true_win_rate
from harness.stats import paired_difference_ci, win_rate_ci

OUT = Path(__file__).resolve().parent / "results" / "stats_coverage.json"
RATES = (0.84, 0.80)


def cell(seeds: int, seed_sd: float, scale: str, reps: int, rng) -> dict:
    noise = NoiseModel(seed_sd=seed_sd, seed_scale=scale)
    tables = simulate(RATES, noise, seeds, 256, reps, rng)
    truth_a, truth_b = (true_win_rate(w, noise) for w in RATES)
    out = {"seeds": seeds, "seed_sd": seed_sd, "seed_scale": scale}
    for name, fn, truth in (("win_rate_ci", lambda t: win_rate_ci(t[0]), truth_a),
                            ("paired_difference_ci", lambda t: paired_difference_ci(t[0], t[1]), truth_a - truth_b)):
        est = [fn(t) for t in tables]
        out[name] = {"coverage": round(float(np.mean([e.low <= truth <= e.high for e in est])), 4),
                     "mean_half_width": round(float(np.mean([e.half_width for e in est])), 5)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    cells = [cell(s, sd, scale, args.reps, rng) for scale in ("win_rate", "logit")
             for s in (3, 5) for sd in (0.0, 0.02, 0.04, 0.08)]
    result = {"reps": args.reps, "nominal": 0.95, "prompts": 256, "win_rates": RATES, "cells": cells}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
