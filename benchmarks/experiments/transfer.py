"""What the tiny verdict predicts: agreement of the tiny boards (beta 0.1 and 0.05) with the smol board.

    PYTHONPATH=. .venv/bin/python benchmarks/experiments/transfer.py [--boards leaderboards] [--resamples 2000]

Reads the ok records of leaderboards/{tiny,tiny-beta0.05,smol}/records and, for each pair of boards,
computes (benchmarks/experiments/agreement.py) Spearman's rho between the per-loss verdicts with a bootstrap CI over
seeds and prompts, and the share of loss pairs separated on both boards whose paired differences
agree in sign. The tiny boards' verdict is the win rate at the matched KL budget (a loss censored on
any seed is shown apart on its board and listed apart here); the "end" rows compare tiny's win rate at the end of training (fixed
steps, the protocol smol uses) instead. Writes benchmarks/results/transfer.json; the top-level
``spearman``, ``spearman_ci``, ``pair_sign_agreement``, ``losses`` and ``suites`` are tiny vs smol.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from benchmarks.experiments.agreement import agreement, board

PAIRS = (("tiny", "verdict", "smol"), ("tiny-beta0.05", "verdict", "smol"), ("tiny", "end", "smol"),
         ("tiny-beta0.05", "end", "smol"), ("tiny", "verdict", "tiny-beta0.05"))


def load(folder: Path, table: str | None = None, include_unverified: bool = False):
    """The board's verified records (sealed by this machine's board key: `harness leaderboard --seal`)."""
    records = [json.loads(p.read_text()) for p in sorted((folder / "records").glob("*.json"))]
    return board(records, table, include_unverified=include_unverified)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", type=Path, default=Path("leaderboards"))
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/transfer.json"))
    ap.add_argument("--include-unverified", action="store_true",
                    help="Also use records this machine's board key has not sealed (a submitter's claim).")
    args = ap.parse_args()
    rows = []
    for first, table, second in PAIRS:
        out = agreement(load(args.boards / first, table, args.include_unverified),
                        load(args.boards / second, None, args.include_unverified), resamples=args.resamples)
        rows.append(out)
        print(f"{first} ({table}) vs {second}: {len(out['losses'])} losses, Spearman {out['spearman']:+.2f} "
              f"[{out['spearman_ci'][0]:+.2f}, {out['spearman_ci'][1]:+.2f}], pairs separated on both "
              f"{out['pairs_separated_on_both']}, sign agreement {out['pair_sign_agreement']}")
    head = rows[0]
    revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", str(args.boards)],
                                capture_output=True, text=True).stdout.strip())
    result = {key: head[key] for key in ("spearman", "spearman_ci", "losses", "suites", "pair_sign_agreement",
                                         "pairs_separated_on_both", "pairs_agreeing", "excluded")}
    result.update(comparisons=rows, git_revision=revision, boards_dirty=dirty, load_average=list(os.getloadavg()),
                  command=f"PYTHONPATH=. .venv/bin/python benchmarks/experiments/transfer.py --resamples {args.resamples}")
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
