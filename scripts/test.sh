#!/usr/bin/env bash
# Sets up and runs the whole test suite: every tier but gpu and vllm (fast, slow, jail, docker, api, browser,
# ray), each installing or starting what it needs, then our own regression check (harness ci: the
# built-in DPO loss on the tiny suite against the committed baseline) and the reproduction check
# (every seed of the committed tiny DPO board record against the regression check's run of it: identical
# on its CPU, within 0.001 on another). A tier whose service cannot
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
  runs=$(mktemp -d)
  bash scripts/regression_check.sh --out "$runs" || status=$?
  echo "test.sh: regression check took $((SECONDS - start)) s" >&2
  # the regression check's DPO run trains the board record's seeds in the board's config: the
  # reproduction check compares every seed with it instead of training seed 0 again
  shopt -s nullglob
  made=("$runs"/*.json)
  echo "test.sh: reproduction check (harness reproduce: the committed tiny DPO record, default tolerance)" >&2
  start=$SECONDS
  if [ ${#made[@]} = 1 ]; then
    bash scripts/reproduce_check.sh "${made[0]}" || status=$?
  else
    bash scripts/reproduce_check.sh || status=$?
  fi
  echo "test.sh: reproduction check took $((SECONDS - start)) s" >&2
  rm -rf "$runs"
fi
exit "$status"
