"""Time to build and render a large synthetic board (HTML, CSV, JSON, Markdown), and the page's size.

    PYTHONPATH=. .venv/bin/python benchmarks/speed/bench_board_render.py [--entries 500] [--prompts 256]
        [--seeds 3] [--sizes 15,60,120,240,500] [--out benchmarks/results/board_render.json]

Records shaped like the tiny board's (3 seeds x 256 prompts of per-prompt outcomes, benchmarks/validation/simulation.py,
true win rates spread over 0.30-0.90 so that many pairs are separated and many are not), each a
verified record that satisfies harness.records.validate_record. For every size: seconds to rank
(harness.leaderboard.board.build_board: every pair's paired interval and Holm's procedure), then to
render each format, and the bytes of each output. The goal (issue 32): a 500-entry board in under
10 s, with a page that stays usable (its head-to-head table bounded). Writes the figures with the
command line, the machine's load average (/proc/loadavg) before and after, and the Python version.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.validation.simulation import NoiseModel, simulate
from harness.leaderboard.board import build_board
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table
from harness.leaderboard.verify import record_filename
from harness.lossfile import sha256_bytes
from harness.records import RECORD_SCHEMA_VERSION, config_hash, validate_record
from harness.stats.crossed import win_rate_ci

OUT = Path(__file__).resolve().parent.parent / "results" / "board_render.json"
CONFIG = {"name": "tiny", "beta": 0.1, "train": {"steps": 40}, "prompts": 256}
RENDERERS = {"html": render_html, "csv": render_csv, "json": render_json, "markdown": render_readme,
             "terminal": render_table}


def synthetic_record(i: int, table: np.ndarray) -> dict:
    """A verified tiny-suite record of loss ``i`` whose metrics and outcomes come from ``table``."""
    name = f"loss_{i:04d}"
    source = (f"def {name}(policy_chosen_logps, policy_rejected_logps, beta):\n"
              f"    return -(beta * {1 + i / 1000:.3f} * (policy_chosen_logps - policy_rejected_logps)).sigmoid().log()\n")
    est = win_rate_ci(table)
    seeds = list(range(table.shape[0]))
    rows = [[round(float(x), 4) for x in r] for r in table]
    per_seed = [{"seed": s, "win_rate": float(np.mean(table[s])), "reward": 1.0, "kl": 2.0, "censored": False,
                 "trajectory": [{"step": step, "kl": step / 20 + 0.01 * s, "reward": float(np.mean(table[s])) * step / 40,
                                 "win_rate": float(np.mean(table[s]))} for step in (0, 10, 20, 30, 40)]}
                for s in seeds]
    record = {
        "schema_version": RECORD_SCHEMA_VERSION, "kind": "bench", "status": "ok", "error": None,
        "created_at": f"2026-11-{1 + i % 28:02d}T06:00:00+00:00",
        "loss": {"name": name, "sha256": sha256_bytes(source.encode()), "source": source, "path": f"{name}.py"},
        "suite": {"name": "tiny", "config_hash": config_hash(CONFIG), "config": CONFIG},
        "seeds": seeds, "beta": 0.1,
        "metrics": {"win_rate": est.mean, "win_rate_ci": [est.low, est.high], "reward": 1.0, "kl": 2.0,
                    "kl_budget": 2.0, "censored": False, "censored_seeds": 0},
        "per_seed": per_seed, "judge": {"id": "gold", "hash": "0" * 16}, "sandbox": {"backend": "none"},
        "provenance": {"harness_version": "0.1.0", "git_revision": "abc123", "python": "3.11", "platform": "linux",
                       "hardware": {}, "packages": {}},
        "timings": {"train": 1.0},
        "outcomes": {"prompts_sha256": "a" * 64, "primary": "verdict",
                     "tables": {"verdict": rows, "end": rows}, "seed_status": ["measured"] * len(seeds)},
        "verification": {"verified": True, "method": "local", "note": "synthetic"},
    }
    return validate_record(record)


def records(n: int, prompts: int, seeds: int, rng_seed: int = 0) -> list[tuple[str, dict]]:
    rates = np.linspace(0.30, 0.90, n)
    tables = simulate(rates, NoiseModel(seed_sd=0.02), seeds, prompts, 1, np.random.default_rng(rng_seed))[0]
    recs = [synthetic_record(i, t) for i, t in enumerate(tables)]
    return [(f"records/{record_filename(r)}", r) for r in recs]


def loadavg() -> str | None:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return None


def measure(n: int, prompts: int, seeds: int) -> dict:
    recs = records(n, prompts, seeds)
    t = time.perf_counter()
    board = build_board("tiny", config_hash(CONFIG), recs)
    seconds = {"rank": time.perf_counter() - t}
    sizes = {}
    for fmt, render in RENDERERS.items():
        t = time.perf_counter()
        text = render(board)
        seconds[fmt] = time.perf_counter() - t
        sizes[fmt] = len(text.encode("utf-8"))
    total = sum(seconds.values())
    return {"entries": n, "pairs": n * (n - 1) // 2, "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "total_seconds": round(total, 3), "bytes": sizes, "separability": board.separability}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500, help="the size the goal is about")
    parser.add_argument("--sizes", default="15,60,120,240", help="smaller sizes measured first (comma-separated)")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {args.entries})
    before = loadavg()
    runs = []
    for n in sizes:
        runs.append(measure(n, args.prompts, args.seeds))
        print(json.dumps(runs[-1]), flush=True)
    goal = next(r for r in runs if r["entries"] == args.entries)
    out = {"command": "PYTHONPATH=. .venv/bin/python " + " ".join(["benchmarks/speed/bench_board_render.py", *sys.argv[1:]]),
           "goal": "a 500-entry board (rank + every format) in under 10 s; the page stays usable",
           "entries": args.entries, "total_seconds": goal["total_seconds"], "under_10_s": goal["total_seconds"] < 10,
           "prompts": args.prompts, "seeds": args.seeds, "runs": runs,
           "loadavg_before": before, "loadavg_after": loadavg(), "python": platform.python_version(),
           "machine": platform.machine(), "cpus": __import__("os").cpu_count(),
           "note": "time excludes building the synthetic records; load average from /proc/loadavg (1, 5, 15 min)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{args.entries} entries: {goal['total_seconds']:.2f} s -> {args.out}")


if __name__ == "__main__":
    main()
