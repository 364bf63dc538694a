"""Build the smol suite's artifacts once: on-policy pairs, reference log-probs, reference answers.

Stages (each timed into build.json):
1. prompts: train and eval prompts from disjoint task lists (prompts.py);
2. pairs: ``samples_per_prompt`` answers per train prompt sampled from the untrained model, scored
   by the ifeval judge; the best and the worst answer form a pair, prompts whose answers all score
   the same are dropped (no preference);
3. reference log-probs of every pair under the untrained model (computed once per suite);
4. reference answers: the untrained model's answers to the eval prompts, every candidate's opponent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from harness.generation import GenerationConfig
from harness.generation.hf import HFGenerator
from harness.judges import ifeval
from harness.suites import cache
from harness.suites.logprobs import reference_logps
from harness.suites.smol import smollm2
from harness.suites.smol.prompts import make_prompts, split_tasks

LOGP_BATCH = 8  # sequences per reference forward pass (vocab 49k: logits dominate memory)


def sample_answers(generator: HFGenerator, tokenizer, prompts: list[str], cfg: GenerationConfig,
                   system: str | None):
    texts = [smollm2.chat_prompt(tokenizer, p, system) for p in prompts]
    return generator.generate(texts, cfg)


def make_pairs(prompts: list[str], answers) -> tuple[list[dict], dict]:
    rows, tied = [], 0
    for prompt, group in zip(prompts, answers, strict=True):
        scored = sorted(((ifeval.score(prompt, c.text), i) for i, c in enumerate(group)), reverse=True)
        (best, bi), (worst, wi) = scored[0], scored[-1]
        if best == worst:
            tied += 1
            continue
        rows.append({"prompt": prompt, "chosen_ids": list(group[bi].token_ids),
                     "rejected_ids": list(group[wi].token_ids), "chosen_text": group[bi].text,
                     "rejected_text": group[wi].text, "chosen_score": best, "rejected_score": worst})
    if not rows:
        raise RuntimeError("every train prompt's answers tied under the judge: no preference pairs")
    return rows, {"prompts": len(prompts), "pairs": len(rows), "tied_prompts": tied}


def build(folder: Path, config, progress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)  # the cache hands over a path to fill, not a folder (cache._install)
    timings: dict[str, float] = {}
    torch.set_num_threads(cache.BUILD_THREADS)
    t = time.perf_counter()
    model_folder = smollm2.ensure_converted()
    tokenizer = smollm2.load_tokenizer(model_folder)
    model = smollm2.load_model(model_folder)
    generator = HFGenerator(model, tokenizer, source=str(model_folder))
    d = config.data
    train_tasks, eval_tasks = split_tasks(d.seed)
    train_prompts = make_prompts(train_tasks, d.train_prompts, seed=d.seed + 1, kinds=d.kinds,
                                 max_instructions=d.max_instructions)
    eval_prompts = make_prompts(eval_tasks, d.eval_prompts, seed=d.seed + 2, kinds=d.kinds,
                                max_instructions=d.max_instructions)
    timings["setup"] = time.perf_counter() - t

    t = time.perf_counter()
    answers = sample_answers(generator, tokenizer, train_prompts, config.pair_generation, d.system)
    timings["pair_generation"] = time.perf_counter() - t
    pair_tokens = sum(len(c.token_ids) for g in answers for c in g)
    t = time.perf_counter()
    rows, pair_stats = make_pairs(train_prompts, answers)
    timings["pair_judging"] = time.perf_counter() - t

    t = time.perf_counter()
    for r in rows:
        r["prompt_ids"] = smollm2.chat_prompt_ids(tokenizer, r["prompt"], d.system)
    reference_logps(rows, model, tokenizer.pad_token_id, batch_size=LOGP_BATCH)
    timings["reference_logps"] = time.perf_counter() - t

    t = time.perf_counter()
    refs = sample_answers(generator, tokenizer, eval_prompts, config.eval_generation, d.system)
    timings["reference_answers"] = time.perf_counter() - t
    ref_tokens = sum(len(c.token_ids) for g in refs for c in g)

    (folder / "pairs.json").write_text(json.dumps(rows))
    eval_rows = [{"prompt": p, "reference": [c.text for c in g],
                  "reference_score": [ifeval.score(p, c.text) for c in g]} for p, g in zip(eval_prompts, refs, strict=True)]
    (folder / "eval.json").write_text(json.dumps(eval_rows))
    stats = {
        "timings": timings, "pairs": pair_stats, "model_folder": str(model_folder),
        "generator": generator.describe(),
        "tokens_per_second": {"pair_generation": pair_tokens / timings["pair_generation"],
                              "reference_answers": ref_tokens / timings["reference_answers"]},
        "reference_score": sum(s for r in eval_rows for s in r["reference_score"])
        / sum(len(r["reference_score"]) for r in eval_rows),
        "chosen_score": sum(r["chosen_score"] for r in rows) / len(rows),
        "rejected_score": sum(r["rejected_score"] for r in rows) / len(rows),
    }
    (folder / "build.json").write_text(json.dumps(stats, indent=1))


def _model_folder(built: Path) -> Path:
    """The converted model the build used; in a job container (the suite cache mounted elsewhere, no
    GGUF package) the folder of the same name under this process's cache (smollm2.converted_folder
    keeps conversions in ``cache_dir()/models``)."""
    if built.is_dir():
        return built
    from harness.paths import cache_dir

    return cache_dir() / "models" / built.name


class SmolArtifacts:
    def __init__(self, folder: Path):
        from datasets import Dataset

        self.folder = folder
        rows = json.loads((folder / "pairs.json").read_text())
        columns = ("prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps")
        self.train_dataset = Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
        self.pairs = rows
        self.eval_rows = json.loads((folder / "eval.json").read_text())
        self.stats = json.loads((folder / "build.json").read_text())
        self.model_folder = _model_folder(Path(self.stats["model_folder"]))


def load(folder: Path) -> SmolArtifacts:
    return SmolArtifacts(folder)
