#!/usr/bin/env bash
# Our own regression check (run by .ci/run through scripts/test.sh): the built-in DPO loss on the
# tiny suite against the committed baseline. Exit codes are harness ci's: 0 nothing regressed,
# 1 a regression, 2 a usage or infrastructure error. Extra arguments go to `harness ci`
# (e.g. --json report.json). To refresh the baseline after an intended change:
#   bash scripts/regression_check.sh --update-baseline --loss losses/dpo.py
set -uo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/harness ci --suite tiny --baseline baselines/tiny-dpo.json --quiet "$@"
