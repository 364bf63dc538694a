"""The paper's IMDb protocol on the tiny suite: reward-vs-KL frontier points per loss and beta.

    PYTHONPATH=. .venv/bin/python benchmarks/beta_frontier.py RECORD.json ... [--out benchmarks/results/frontier.json]

Each RECORD is an ok tiny-suite record (a board's record, or one of `harness bench --beta-sweep`'s);
the points (harness.suites.tiny.frontier) are grouped by loss and beta and written with their record's
file name, suite config hash and git revision, plus a Markdown table on stdout. The DiscoPOP paper's
IMDb reading: at beta 0.05 LRML reached reward 0.975 at KL 0.656 and DPO 0.972 at KL 0.990 (a higher
point at a lower KL is the better frontier).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.suites.tiny.frontier import point


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/frontier.json"))
    args = ap.parse_args()
    points: dict[str, list[dict]] = {}
    for path in args.records:
        r = json.loads(path.read_text())
        if r.get("status") != "ok" or r["suite"]["name"] not in ("tiny", "tiny-beta0.05"):
            continue
        p = point(r, path.name).as_dict()
        p.update(config_hash=r["suite"]["config_hash"], git_revision=r["provenance"]["git_revision"])
        points.setdefault(r["loss"]["name"], []).append(p)
    for rows in points.values():
        rows.sort(key=lambda p: p["beta"])
    args.out.write_text(json.dumps({"points": points, "command": "benchmarks/beta_frontier.py " + " ".join(
        str(p) for p in args.records)}, indent=1) + "\n")
    print("| loss | beta | KL end (seed range) | gold reward end (seed range) | win % end [95% CI] | win % at KL 2 |")
    print("|---|---|---|---|---|---|")
    for loss, rows in sorted(points.items()):
        for p in rows:
            at = "not measured" if p["win_rate"] is None else f"{100 * p['win_rate']:.1f} ({p['measured_seeds']}/{p['seeds']})"
            print(f"| {loss} | {p['beta']:g} | {p['kl_end']:.2f} ({p['kl_end_range'][0]:.2f}-{p['kl_end_range'][1]:.2f}) | "
                  f"{p['reward_end']:+.3f} ({p['reward_end_range'][0]:+.3f} to {p['reward_end_range'][1]:+.3f}) | "
                  f"{100 * p['win_rate_end']:.1f} [{100 * p['win_rate_end_ci'][0]:.1f}, {100 * p['win_rate_end_ci'][1]:.1f}] | {at} |")


if __name__ == "__main__":
    main()
