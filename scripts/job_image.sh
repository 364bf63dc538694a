#!/usr/bin/env bash
# Build the CPU job image (harness-job-cpu:local) for `harness bench|discover --executor docker`, with no
# registry: the base is `docker import`ed from this machine's interpreter and virtual environment, and
# containers/Dockerfile.cpu installs this checkout's harness on top (containers/image.py).
#
# The GPU image needs a host that can pull (CUDA base image, PyPI):
#     docker build -t harness-job:latest .
#     harness bench --loss losses/dpo.py --suite <gpu suite> --executor docker --image harness-job:latest --gpus all
#
# The interpreter mirrored into the image: $PYTHON, else the one the `harness` command runs on, else
# ./.venv/bin/python, else python3. Needs a running docker daemon (root: `dockerd &`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if command -v harness >/dev/null && head -1 "$(command -v harness)" | grep -q '^#!/'; then
    PYTHON="$(head -1 "$(command -v harness)" | cut -c3- | awk '{print $1}')"
  elif [[ -x .venv/bin/python ]]; then
    PYTHON=.venv/bin/python
  else
    PYTHON=python3
  fi
fi
if ! docker info >/dev/null 2>&1; then
  echo "job_image.sh: the docker daemon is not running (start it: systemctl start docker, or dockerd & as root)" >&2
  exit 1
fi
exec "$PYTHON" containers/image.py "$@"
