"""One candidate on the smol suite: train (the shared TRL path), generate, judge, summarise."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harness.generation import make_generator
from harness.generation.hf import HFGenerator
from harness.hashing import make_outcomes
from harness.judges import JUDGES, Comparison
from harness.stats.crossed import win_rate_ci
from harness.suites.base import SuiteResult
from harness.suites.smol import smollm2
from harness.transcript import block_from_seeds, shown_answers


def _generator(config, model, tokenizer, out_dir: Path):
    """The configured backend. vLLM loads the trained checkpoint from the job's output folder."""
    if config.generator == "hf":
        return HFGenerator(model, tokenizer, source="trained policy (in memory)")
    folder = out_dir / "policy"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return make_generator(config.generator, folder)


def judge_answers(config, eval_rows: list[dict], answers, judge=None) -> dict:
    """Win rate of the policy's answers against the reference answers (same sample index), judged by
    ``judge`` (a Judge), or by the registered judge ``config.judge`` when None."""
    if judge is None:
        judge = JUDGES.get(config.judge)()
    comparisons, groups = [], []
    for i, (row, group) in enumerate(zip(eval_rows, answers, strict=True)):
        for j, completion in enumerate(group):
            ref = row["reference"][j % len(row["reference"])]
            comparisons.append(Comparison(row["prompt"], completion.text, ref, group=str(i)))
            groups.append(i)
    t = time.perf_counter()
    judgments = judge.judge(comparisons)
    seconds = time.perf_counter() - t
    prefs = np.array([j.preference for j in judgments])
    per_prompt = [float(np.mean([p for p, g in zip(prefs, groups, strict=True) if g == i])) for i in sorted(set(groups))]
    est = win_rate_ci([per_prompt], level=config.ci_level)  # one seed: prompt and sampling noise only
    scores = [j.details.get("score") for j in judgments]
    first = [groups.index(i) for i in range(len(eval_rows))]  # sample 0 of each prompt, against reference 0
    return {
        "answers": shown_answers(judge, [comparisons[c].output for c in first], [judgments[c] for c in first]),
        "win_rate": est.mean, "win_rate_ci": [est.low, est.high], "win_rate_sem": est.sem,
        "wins": int((prefs == 1).sum()), "ties": int((prefs == 0.5).sum()), "losses": int((prefs == 0).sum()),
        "instruction_score": float(np.mean(scores)) if None not in scores else None,
        "reference_instruction_score": None if None in scores
        else float(np.mean([j.details["reference_score"] for j in judgments])),
        "mean_length_words": float(np.mean([len(c.text.split()) for g in answers for c in g])),
        "finished_rate": float(np.mean([c.finished for g in answers for c in g])),
        "judge": {"id": judge.id, "hash": judge.hash,  # an LLM judge is also named by its server
                  **({"endpoint": judge.endpoint} if getattr(judge, "endpoint", None) else {})}, "judge_seconds": seconds, "per_prompt_win": per_prompt,
    }


def run_seed(config, artifacts, session, *, seed: int, beta: float, out_dir=None) -> dict:
    from harness.train import train

    timings: dict[str, float] = {}
    torch.set_num_threads(config.train.threads)
    with tempfile.TemporaryDirectory(prefix="smol-") as tmp:
        work = Path(out_dir) if out_dir else Path(tmp)
        t = time.perf_counter()
        tokenizer = smollm2.load_tokenizer(artifacts.model_folder)
        model = smollm2.load_model(artifacts.model_folder)
        timings["load"] = time.perf_counter() - t

        t = time.perf_counter()
        tcfg = config.train.as_train_config()
        info = train(model, artifacts.train_dataset, tokenizer, session, tcfg, beta=beta, seed=seed,
                     output_dir=str(work / "trainer"), evaluate=lambda m, step: None)
        timings["train"] = time.perf_counter() - t
        timings["train_step"] = timings["train"] / tcfg.steps

        t = time.perf_counter()
        generator = _generator(config, model, tokenizer, work)
        prompts = [smollm2.chat_prompt(tokenizer, r["prompt"], config.data.system) for r in artifacts.eval_rows]
        gen_cfg = config.eval_generation
        try:
            answers = generator.generate(prompts, type(gen_cfg)(**{**gen_cfg.as_dict(), "seed": gen_cfg.seed + seed}))
        finally:
            generator.close()  # the vllm-server backend's server
        timings["generate"] = time.perf_counter() - t
        tokens = sum(len(c.token_ids) for g in answers for c in g)

    metrics = judge_answers(config, artifacts.eval_rows, answers)
    timings["judge"] = metrics.pop("judge_seconds")
    return {"seed": seed, **metrics, "generation": generator.describe(),
            "generation_tokens_per_second": tokens / max(timings["generate"], 1e-9),
            "loss_seconds": info.get("loss_seconds"), "timings": timings}


def aggregate(per_seed: list[dict], level: float, prompts: list[str],
              references: list[str] | None = None) -> SuiteResult:
    """Seed-level results -> the suite's result. The per-prompt win table (the end of training is the
    verdict point) goes into the record's outcomes, and its crossed seeds x prompts CI
    (``harness.stats.crossed.win_rate_ci``) is the win rate's, so the printed SEM is the one the CI is built from."""
    table = [np.asarray(s.pop("per_prompt_win"), dtype=float).tolist() for s in per_seed]
    outcomes = make_outcomes(prompts, {"verdict": table, "end": table}, ["measured"] * len(per_seed))
    est = win_rate_ci(outcomes["tables"]["verdict"], level=level)
    scores = [s["instruction_score"] for s in per_seed]
    metrics = {"win_rate": est.mean, "win_rate_ci": [est.low, est.high], "win_rate_sem": est.sem,
               # only the ifeval judge scores instructions; an LLM judge gives preferences only
               "instruction_score": None if None in scores else float(np.mean(scores)),
               "reference_instruction_score": per_seed[0]["reference_instruction_score"],
               "beats_reference": est.low > 0.5, "generation": per_seed[0]["generation"]}
    timings: dict[str, float] = {}
    for s in per_seed:
        for k, v in s["timings"].items():
            timings[k] = timings.get(k, 0.0) + v
    answers = block_from_seeds(per_seed, prompts, references, judge_id=per_seed[0]["judge"]["id"],
                               point="after training; first sample per prompt, judged against the first reference "
                                     "answer")
    return SuiteResult(per_seed, metrics, per_seed[0]["judge"], timings, outcomes, answers=answers)
