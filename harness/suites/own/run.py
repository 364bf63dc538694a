"""One candidate on a user suite: train the user's model with the loss, answer the held-out prompts, judge."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from harness.generation import make_generator
from harness.generation.hf import HFGenerator
from harness.suites.own.build import load_model
from harness.suites.own.judges import make_judge
from harness.suites.smol.run import judge_answers


def _generator(config, model, tokenizer, work: Path):
    """The configured backend; every backend but hf loads the trained policy from a saved folder."""
    if config.generator == "hf":
        return HFGenerator(model, tokenizer, source="trained policy (in memory)")
    folder = work / "policy"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return make_generator(config.generator, folder)


def run_seed(config, artifacts, session, *, seed: int, beta: float) -> dict:
    from harness.train import train

    timings: dict[str, float] = {}
    torch.set_num_threads(config.train.threads)
    with tempfile.TemporaryDirectory(prefix="own-suite-") as tmp:
        t = time.perf_counter()
        model, tokenizer = load_model(artifacts.model_folder)
        timings["load"] = time.perf_counter() - t

        t = time.perf_counter()
        tcfg = config.train.as_train_config()
        info = train(model, artifacts.train_dataset, tokenizer, session, tcfg, beta=beta, seed=seed,
                     output_dir=str(Path(tmp) / "trainer"), evaluate=lambda m, step: None)
        timings["train"] = time.perf_counter() - t

        t = time.perf_counter()
        generator = _generator(config, model, tokenizer, Path(tmp))
        gen_cfg = config.eval_generation
        try:
            answers = generator.generate([r["text"] for r in artifacts.eval_rows],
                                         type(gen_cfg)(**{**gen_cfg.as_dict(), "seed": gen_cfg.seed + seed}))
        finally:
            generator.close()
        timings["generate"] = time.perf_counter() - t
        tokens = sum(len(c.token_ids) for g in answers for c in g)

    t = time.perf_counter()
    metrics = judge_answers(config, artifacts.eval_rows, answers, judge=make_judge(config.judge))
    metrics.pop("judge_seconds")
    timings["judge"] = time.perf_counter() - t
    return {"seed": seed, **metrics, "generation": generator.describe(),
            "generation_tokens_per_second": tokens / max(timings["generate"], 1e-9),
            "loss_seconds": info.get("loss_seconds"), "timings": timings,
            "samples": [{"prompt": r["prompt"], "answer": g[0].text, "reference": r["reference"][0]}
                        for r, g in list(zip(artifacts.eval_rows, answers, strict=True))[:5]]}
