#!/usr/bin/env bash
# Sets up everything the CPU path needs: a virtual environment in .venv with exactly the versions in
# locks/cpu.txt (pinned, with sha256 hashes: the CPU build of torch, the training stack, the dev tools),
# the harness itself (editable, no dependency resolution), and bubblewrap (the default sandbox backend)
# when missing. `bash scripts/setup.sh --extra NAME` adds an extra from locks/NAME.txt (smol, ray, ...).
# To change a version: edit pyproject.toml, run `bash scripts/lock.sh --upgrade`, commit locks/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=locks/cpu.txt
if [ "${1:-}" = "--extra" ] && [ -n "${2:-}" ]; then
  LOCK="locks/$2.txt"
  [ -f "$LOCK" ] || { echo "setup: no lock for extra '$2' ($LOCK); the extras are: $(ls locks | sed 's/.txt//' | tr '\n' ' ')" >&2; exit 2; }
fi

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap (the jail sandbox backend)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: bubblewrap (bwrap) is missing; install it (e.g. 'sudo apt-get install bubblewrap')" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The lock pins torch's CPU build (torch==2.13.0+cpu): on a machine without it in a local wheel folder,
# add PyTorch's CPU wheel index with PIP_EXTRA_INDEX_URL (the same wheel, the same hash).
.venv/bin/pip install -q --require-hashes -r "$LOCK"
.venv/bin/pip install -q --no-deps --no-build-isolation -e .
echo "setup: ready (.venv/bin/harness)" >&2
