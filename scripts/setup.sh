#!/usr/bin/env bash
# Sets up everything the CPU path needs: a virtual environment in .venv with the CPU build of torch,
# the harness and its dev tools, and bubblewrap (the default sandbox backend) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_PIN=${HARNESS_TORCH:-torch==2.13.0}

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap (the jail sandbox backend)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: bubblewrap (bwrap) is missing; install it (e.g. 'sudo apt-get install bubblewrap')" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first and pinned: an unpinned torch (or one pulled in by another package) takes a CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "$TORCH_PIN"
.venv/bin/pip install -q -e '.[dev]'
echo "setup: ready (.venv/bin/harness)" >&2
