"""How far a record moves on a CPU with another vector instruction set: the tolerance of `harness reproduce`.

Bit-identity holds on one machine (tests/test_reproduce.py). Another machine may dispatch torch's,
MKL's and oneDNN's kernels to other instruction sets (AVX2 against AVX-512), which changes float
reductions in the last bits; training amplifies that. This script emulates such a machine on this one
by capping every library's instruction set (ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS,
ONEDNN_MAX_CPU_ISA) and re-runs the given records' seeds with `harness reproduce`, then reports the
per-seed win-rate differences, per-prompt differences and the largest one. The largest difference,
rounded up, is the measured tolerance across instruction sets (harness.reproduce.REPRODUCTION_TOLERANCE
states which figure it uses).

    python benchmarks/validation/reproduce_isa.py leaderboards/tiny/records/<dpo>.json <discopop>.json \
        --isa AVX2 --out benchmarks/results/reproduce_isa.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CAPS = {  # the same cap in each library's own words
    "AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "DEFAULT": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def reproduce(record: Path, isa: str | None) -> dict:
    env = dict(os.environ, **(CAPS[isa] if isa else {}))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        t = time.time()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "reproduce", str(record), "--quiet",
                               "--json", str(out)], env=env, capture_output=True, text=True, cwd=ROOT)
        if not out.is_file():
            raise SystemExit(f"reproduce failed ({proc.returncode}): {proc.stderr[-2000:]}")
        result = json.loads(out.read_text())
    result["seconds"] = round(time.time() - t, 1)
    result["isa"] = isa or "native"
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("--isa", choices=sorted(CAPS), default="AVX2")
    ap.add_argument("--native", action="store_true", help="also re-run on the native instruction set")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    rows = []
    for record in args.records:
        for isa in ([None] if args.native else []) + [args.isa]:
            r = reproduce(record, isa)
            rows.append({"record": str(record), **r})
            print(f"{record.name} on {r['isa']}: {r['verdict']} "
                  + ", ".join(f"seed {s['seed']}: {s['claimed']} -> {s['measured']}" for s in r["seeds"]), flush=True)
    deltas = [abs(s["measured"] - s["claimed"]) for r in rows if r["isa"] != "native" for s in r["seeds"]
              if s["measured"] is not None and s["claimed"] is not None]
    flips = sum((s["measured"] is None) != (s["claimed"] is None) for r in rows for s in r["seeds"])
    summary = {"rows": rows, "max_abs_win_rate_difference": max(deltas, default=None),
               "seeds_compared": len(deltas), "censoring_flips": flips, "loadavg": os.getloadavg(),
               "command": "python benchmarks/validation/reproduce_isa.py " + " ".join(sys.argv[1:])}
    args.out.write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
