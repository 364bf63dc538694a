"""Is the sequence-level path as fast as before the per-token vocabulary? Two checkouts, alternated.

    .venv/bin/python benchmarks/speed/bench_loss_call.py --baseline /path/to/main/checkout --rounds 5 \
        [--candidate .] [--out benchmarks/results/loss_call.json]

Each round runs one measuring process per checkout (baseline, then candidate, then the order swapped
in the next round, so that the machine's drift falls on both), each with that checkout first on
``sys.path``. A process measures, for DPO (a sequence-level loss, the one every board has):

1. ``call_us`` and ``call_min_us``: the bridge round trip of one training step at B = 64 through the jail
   (``bridged_mean_loss`` forward and backward: frame encoding, the worker's call, the reply's checks),
   the median and the fastest over --calls calls after a warm-up;
2. ``train_s``: a short training run of the tiny suite's policy on its shipped pairs (``harness.train.train``,
   seed 0, --steps steps of 64 pairs, no evaluation), the jailed loss calls included: the trainer's
   sequence-level fast path end to end.

The JSON written to --out holds every round's numbers, the per-round candidate / baseline ratios, their
median, the git revisions, the command and the load average before and after each process. The verdict
is "not slower" when the median ratio of the fastest call and of the training run are at most
1 + --tolerance: the fastest call is the round trip's own cost, while its median carries the shared
2-core machine's noise (the README measured drifts up to 1.4x within an hour, hence the alternation);
the median call ratio is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, os, statistics, sys, time
import torch
torch.set_num_threads(1)
from harness.paths import builtin_losses_dir
from harness.sandbox import open_session
from harness.sandbox.bridge import bridged_mean_loss
names = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")
g = torch.Generator().manual_seed(0)
x = {n: -torch.rand(64, generator=g) * 40 for n in names}
x["chosen_lengths"] = x["rejected_lengths"] = torch.full((64,), 20, dtype=torch.int64)
calls, steps = int(sys.argv[1]), int(sys.argv[2])
out = {"load_before": os.getloadavg()}
with open_session(builtin_losses_dir() / "dpo.py", backend="jail") as session:
    times = []
    for i in range(calls + 50):
        leaves = {k: (v.clone().requires_grad_(True) if v.is_floating_point() else v) for k, v in x.items()}
        t = time.perf_counter()
        mean, _ = bridged_mean_loss(session, leaves, 0.1)
        mean.backward()
        if i >= 50:
            times.append(time.perf_counter() - t)
out["call_us"] = 1e6 * statistics.median(times)
out["call_min_us"] = 1e6 * min(times)
import tempfile
from dataclasses import replace
from harness.suites import SUITES
from harness.train import train
suite = SUITES.get("tiny")
artifacts = suite.build(progress=False)
cfg = replace(suite.config.train, steps=steps, checkpoint_every=steps)
with open_session(builtin_losses_dir() / "dpo.py", backend="jail") as session, tempfile.TemporaryDirectory() as tmp:
    model = artifacts.load_policy()
    t = time.perf_counter()
    info = train(model, artifacts.train_dataset, artifacts.tokenizer, session, cfg, beta=0.1, seed=0,
                 output_dir=tmp, evaluate=lambda m, s: None)
    out["train_s"] = time.perf_counter() - t
out["loss_calls_s"] = info["loss_seconds"]
out["load_after"] = os.getloadavg()
print("RESULT " + json.dumps(out))
"""


def _revision(path: Path) -> str:
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


def measure(checkout: Path, calls: int, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(calls), str(steps)], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{checkout}: the measuring process failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of the revision to compare with")
    parser.add_argument("--candidate", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loss_call.json"))
    args = parser.parse_args(argv)
    sides = {"baseline": args.baseline.resolve(), "candidate": args.candidate.resolve()}
    rounds = []
    for r in range(args.rounds):
        order = ("baseline", "candidate") if r % 2 == 0 else ("candidate", "baseline")
        got = {}
        for side in order:
            got[side] = measure(sides[side], args.calls, args.steps)
            print(f"round {r + 1}/{args.rounds} {side}: call {got[side]['call_us']:.0f} us "
                  f"(fastest {got[side]['call_min_us']:.0f}), "
                  f"train {got[side]['train_s']:.2f} s, load {got[side]['load_before'][0]:.2f}", flush=True)
        rounds.append({"order": list(order), **got})
    ratios = {m: [x["candidate"][m] / x["baseline"][m] for x in rounds] for m in ("call_us", "call_min_us", "train_s")}
    summary = {m: {"median_ratio": statistics.median(v), "ratios": v,
                   "baseline_median": statistics.median(x["baseline"][m] for x in rounds),
                   "candidate_median": statistics.median(x["candidate"][m] for x in rounds)}
               for m, v in ratios.items()}
    # the fastest call is the round trip's own cost; medians carry the shared machine's noise (reported too)
    judged = ("call_min_us", "train_s")
    verdict = "not slower" if all(summary[m]["median_ratio"] <= 1 + args.tolerance for m in judged) else "slower"
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "revisions": {k: _revision(p) for k, p in sides.items()}, "calls": args.calls, "steps": args.steps,
              "tolerance": args.tolerance, "summary": summary, "verdict": verdict, "rounds": rounds,
              "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for m, s in summary.items():
        print(f"{m}: baseline {s['baseline_median']:.4g}, candidate {s['candidate_median']:.4g}, "
              f"median ratio {s['median_ratio']:.3f}")
    print(f"verdict: {verdict} (tolerance {args.tolerance:.0%}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
