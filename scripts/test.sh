#!/usr/bin/env bash
# Sets up and runs the whole test suite: the fast tier, then the slow, jail, docker, api, browser and
# ray tiers, each installing or starting what it needs. A tier whose service cannot start is reported
# as SKIPPED with the reason (by the tests themselves), never silently passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_test_tiers.sh
exec .venv/bin/python -m pytest -q -m "${HARNESS_TEST_MARKERS:-not gpu}" "$@"
