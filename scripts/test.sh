#!/usr/bin/env bash
# Sets up and runs the whole test suite: every tier but gpu and vllm (fast, slow, jail, docker, api, browser,
# ray), each installing or starting what it needs, then our own regression check (harness ci: the
# built-in DPO loss on the tiny suite against the committed baseline) and the reproduction check
# (seed 0 of the committed tiny DPO board record, re-run here: identical on its CPU, within 0.001 on another). A tier whose service cannot
# start is reported as SKIPPED with the reason by the tests themselves, never silently passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_test_tiers.sh
status=0
# the vllm tier is opt-in (a 3.6 GB engine): HARNESS_VLLM_TIER=1 HARNESS_TEST_MARKERS=vllm bash scripts/test.sh
# Every test has a timeout (tests/conftest.py: 300 s fast, 900-2400 s opt-in tiers, or its own marker); the 25
# slowest tests are printed at the end, so the tier durations in docs/testing.md can be kept current.
# Tests run on one pytest-xdist worker per CPU this process may use (HARNESS_TEST_WORKERS to choose; 1: no
# xdist); tests/conftest.py pins each worker to its own CPUs, so a worker's seed processes never share a
# core with another worker's, and the tiers with one expensive fixture (docker, api, ray, browser) each
# stay on one worker. Measured figures: docs/testing.md.
workers=${HARNESS_TEST_WORKERS:-$(.venv/bin/python -c "from harness.runtime import cpu_budget; print(cpu_budget())")}
parallel=()
[ "$workers" -gt 1 ] && parallel=(-n "$workers" --dist loadgroup)
start=$SECONDS
.venv/bin/python -m pytest -q -m "${HARNESS_TEST_MARKERS:-not gpu and not vllm}" --durations=25 "${parallel[@]}" "$@" \
  || status=$?
echo "test.sh: pytest took $((SECONDS - start)) s" >&2
if [ "$status" = 0 ] && [ $# = 0 ]; then
  echo "test.sh: regression check (harness ci against baselines/tiny-dpo.json)" >&2
  start=$SECONDS
  bash scripts/regression_check.sh || status=$?
  echo "test.sh: regression check took $((SECONDS - start)) s" >&2
  echo "test.sh: reproduction check (harness reproduce: seed 0 of the committed tiny DPO record, default tolerance)" >&2
  start=$SECONDS
  bash scripts/reproduce_check.sh || status=$?
  echo "test.sh: reproduction check took $((SECONDS - start)) s" >&2
fi
exit "$status"
