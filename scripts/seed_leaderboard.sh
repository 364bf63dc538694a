#!/usr/bin/env bash
# Seeds leaderboards/<suite>/ by running every built-in loss (losses/*.py and the controls in
# losses/controls/*.py) on the suite with several seeds through `harness submit`, then regenerates the
# board's files. Re-running is cheap: a loss file already on the board (same bytes, same suite config)
# is skipped without training. A loss whose run fails is listed under "failed runs", never ranked.
# Cost: each seed of the tiny suite trains and evaluates on the CPU: ~25-30 s per seed on two idle
# cores (measured), several minutes per seed on a heavily loaded machine. Pass LOSS.py files to seed
# part of the board.
#
#   scripts/seed_leaderboard.sh [--suite tiny] [--seeds 3] [--backend auto] [LOSS.py ...]
set -uo pipefail
cd "$(dirname "$0")/.."
suite=tiny seeds=3 backend=auto
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "seed_leaderboard: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || files=(losses/*.py losses/controls/*.py)
infra=0
for f in "${files[@]}"; do
  echo "== $f" >&2
  .venv/bin/harness submit --loss "$f" --suite "$suite" --seeds "$seeds" --backend "$backend" --quiet \
    --board-dir leaderboards
  case $? in
    0) ;;
    1) echo "   $f: refused or failed (see above); not ranked" >&2 ;;
    *) echo "   $f: infrastructure error; stopping" >&2; infra=1; break ;;
  esac
done
.venv/bin/harness leaderboard --suite "$suite" --write >/dev/null || infra=1
# The board's own README.md, leaderboard.csv and index.html are its live tables; the dated pages under
# docs/results/ are snapshots and are not rewritten.
.venv/bin/harness leaderboard --suite "$suite"
exit $infra
