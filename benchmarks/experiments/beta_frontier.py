"""The paper's IMDb protocol on the tiny suite: reward-vs-KL frontier points per loss and beta.

    PYTHONPATH=. .venv/bin/python benchmarks/experiments/beta_frontier.py RECORD.json ... [--out benchmarks/results/frontier.json]
        [--plot benchmarks/results/frontier.png]

Each RECORD is an ok tiny-suite record (a board's record, or one of `harness bench --beta-sweep`'s);
the points (each suite's ``frontier_point``) are grouped by loss and beta and written with their record's
file name, suite config hash and git revision, plus a Markdown table on stdout. The DiscoPOP paper's
IMDb reading: at beta 0.05 LRML reached reward 0.975 at KL 0.656 and DPO 0.972 at KL 0.990 (a higher
point at a lower KL is the better frontier). ``--plot`` draws each loss's points in the (KL, reward)
plane, one marker per beta, with the seed ranges as error bars (log KL axis).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.suites import SUITES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/frontier.json"))
    ap.add_argument("--plot", type=Path, help="also draw the frontier per loss into this PNG")
    ap.add_argument("--plot-losses", help="comma-separated losses to draw (default: those with the most betas)")
    args = ap.parse_args()
    points: dict[str, list[dict]] = {}
    for path in args.records:
        r = json.loads(path.read_text())
        if r.get("status") != "ok" or r["suite"]["name"] not in ("tiny", "tiny-beta0.05"):
            continue
        p = SUITES.get(r["suite"]["name"]).frontier_point(r, path.name).as_dict()
        p.update(config_hash=r["suite"]["config_hash"], git_revision=r["provenance"]["git_revision"])
        points.setdefault(r["loss"]["name"], []).append(p)
    for rows in points.values():
        rows.sort(key=lambda p: p["beta"])
    args.out.write_text(json.dumps({"points": points, "command": "benchmarks/experiments/beta_frontier.py " + " ".join(
        str(p) for p in args.records)}, indent=1) + "\n")
    print("| loss | beta | KL end (seed range) | gold reward end (seed range) | win % end [95% CI] | win % at KL 2 |")
    print("|---|---|---|---|---|---|")
    for loss, rows in sorted(points.items()):
        for p in rows:
            at = "not measured" if p["win_rate"] is None else f"{100 * p['win_rate']:.1f} ({p['measured_seeds']}/{p['seeds']})"
            print(f"| {loss} | {p['beta']:g} | {p['kl_end']:.2f} ({p['kl_end_range'][0]:.2f}-{p['kl_end_range'][1]:.2f}) | "
                  f"{p['reward_end']:+.3f} ({p['reward_end_range'][0]:+.3f} to {p['reward_end_range'][1]:+.3f}) | "
                  f"{100 * p['win_rate_end']:.1f} [{100 * p['win_rate_end_ci'][0]:.1f}, {100 * p['win_rate_end_ci'][1]:.1f}] | {at} |")
    if args.plot:
        most = max(len(rows) for rows in points.values())
        names = args.plot_losses.split(",") if args.plot_losses else [n for n, r in points.items() if len(r) == most]
        plot({n: points[n] for n in names if n in points}, args.plot)


def plot(points: dict[str, list[dict]], path: Path) -> None:
    """End-of-training (KL, gold reward) per loss and beta: means with the seed range as error bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for loss, rows in sorted(points.items()):
        kl = [p["kl_end"] for p in rows]
        reward = [p["reward_end"] for p in rows]
        xerr = [[p["kl_end"] - p["kl_end_range"][0] for p in rows], [p["kl_end_range"][1] - p["kl_end"] for p in rows]]
        yerr = [[p["reward_end"] - p["reward_end_range"][0] for p in rows],
                [p["reward_end_range"][1] - p["reward_end"] for p in rows]]
        line = ax.errorbar(kl, reward, xerr=xerr, yerr=yerr, marker="o", capsize=2, alpha=0.85, label=loss)
        for p in rows:
            ax.annotate(f"{p['beta']:g}", (p["kl_end"], p["reward_end"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=line[0].get_color())
    ax.set_xscale("log")
    ax.set_xlabel("KL(policy || reference) at the end of training, nats (log scale)")
    ax.set_ylabel("gold reward at the end of training")
    ax.set_title("tiny suite: end of training per beta (labels), mean and range over 3 seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
