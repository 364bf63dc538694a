"""How long CI takes: `bash .ci/run` on a fresh clone of a committed revision, with an empty HARNESS_HOME,
as CI runs it; the figure the guide's goal names (a full run under 35 minutes of CI's 90).

    .venv/bin/python benchmarks/speed/bench_ci_time.py [--rev HEAD] [--out benchmarks/results/ci_time.json]
        [--cold-pip-cache] [--workdir ~/.cache/harness-ci-time]

Run it alone (it is the machine's only CPU-heavy job for ~25 minutes). It clones ``--rev`` into a
temporary folder, runs `.ci/run` there with pytest's JUnit report and its failed/skipped summary
switched on (PYTEST_ADDOPTS, which add reporting and change nothing else), and records: the whole wall time, each phase as scripts/test.sh
prints it (setup is the rest), the exit code, the test count, the tests' own summed time and the 15
slowest, the load average before and after, the CPU model, and whether pip's download cache was warm
(`--cold-pip-cache` points pip at an empty cache, as a new CI machine has; llama.cpp's server then
compiles, ~5 minutes). The clone goes under ``--workdir``, beside this checkout by default: not
under /tmp (the docker tier skips a checkout there) nor under the home folder (the read_home sandbox
attack then finds the clone's own path: two failures, seen in results/ci_time_under_home.json). A failed run is recorded too, with its exit code, its FAILED/SKIPPED lines and its
output beside the JSON (``.log``); the script exits with that code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_S = 35 * 60
PHASES = {"pytest": r"test\.sh: pytest took (\d+) s", "regression check": r"test\.sh: regression check took (\d+) s",
          "reproduction check": r"test\.sh: reproduction check took (\d+) s"}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def slowest(junit: Path, n: int = 15) -> tuple[int, float, list[dict]]:
    """(tests, their summed seconds, the n slowest) from a JUnit XML report."""
    cases = [(float(c.get("time") or 0), f"{c.get('classname')}::{c.get('name')}")
             for c in ET.parse(junit).getroot().iter("testcase")]
    cases.sort(reverse=True)
    return len(cases), round(sum(t for t, _ in cases), 1), [{"test": name, "seconds": round(t, 1)} for t, name in cases[:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="HEAD", help="the committed revision to clone and run (default HEAD)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ci_time.json")
    ap.add_argument("--cold-pip-cache", action="store_true", help="an empty pip cache, as on a new CI machine")
    ap.add_argument("--workdir", type=Path, default=ROOT.parent / "harness-ci-time",
                    help="where the clone goes (removed after), beside this checkout by default, as CI's is: "
                         "never under /tmp (the docker tier's hardened containers hide it: its tests skip) nor "
                         "under the home folder (the sandbox attacks that list it find the clone's own path)")
    args = ap.parse_args()
    from harness.environment import cpu_model

    rev = subprocess.run(["git", "rev-parse", args.rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    where = args.workdir.resolve()
    for bad in (Path("/tmp"), Path.home().resolve()):
        if where == bad or bad in where.parents:
            ap.error(f"--workdir must not be under {bad}: see --help")
    args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.workdir) as tmp:
        clone, home, junit = Path(tmp) / "clone", Path(tmp) / "home", Path(tmp) / "junit.xml"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
        env = dict(os.environ, HARNESS_HOME=str(home), PYTEST_ADDOPTS=f"--junitxml={junit} -rfEs")
        env.pop("VIRTUAL_ENV", None)
        if args.cold_pip_cache:
            env["PIP_CACHE_DIR"] = str(Path(tmp) / "pip-cache")
        before, t0 = load(), time.monotonic()
        proc = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env, capture_output=True, text=True)
        total, after = time.monotonic() - t0, load()
        log = proc.stdout + proc.stderr
        phases = {name: int(m.group(1)) for name, rx in PHASES.items() if (m := re.search(rx, log))}
        phases["setup and the rest"] = round(total - sum(phases.values()))
        tests, summed, top = slowest(junit) if junit.exists() else (None, None, [])
        summary = [ln for ln in log.splitlines() if re.match(r"(FAILED|ERROR|SKIPPED) ", ln)]
        kept = "\n".join(ln for ln in log.splitlines() if not ln.startswith("WARNING: Location"))  # pip's noise
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".log").write_text(kept[-200_000:])  # the run's own output, for a failure
        result = {
            "command": "python benchmarks/speed/bench_ci_time.py " + " ".join(sys.argv[1:]),
            "revision": rev, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpu_model": cpu_model(), "cpus": os.cpu_count(), "pip_cache": "cold" if args.cold_pip_cache else "warm",
            "exit_code": proc.returncode, "seconds_total": round(total), "minutes_total": round(total / 60, 1),
            "goal_seconds": GOAL_S, "goal_met": proc.returncode == 0 and total <= GOAL_S,
            "phases_seconds": phases, "tests": tests, "tests_summed_seconds": summed,
            "load_before": before, "load_after": after, "slowest_tests": top,
            "failed_skipped_lines": summary[:100],
            "log": str(args.out.with_suffix(".log")),
            "passed_line": next((ln for ln in log.splitlines()[::-1] if re.search(r"\d+ (passed|failed)", ln)), None),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"CI on a fresh clone of {rev[:10]}: exit {proc.returncode}, {result['minutes_total']} min "
          f"(goal {GOAL_S // 60} min: {'met' if result['goal_met'] else 'NOT met'}); phases {phases}; "
          f"load {before} -> {after}; written to {args.out}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
