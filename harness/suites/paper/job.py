"""One candidate of a paper suite on a GPU host: train with the paper's schedule, save, generate.

This is what a bench-job container runs (containers/job.py): the loss goes through its sandbox
session (harness.train.BridgedDPOTrainer), the reference log-probs come from the suite cache, the
trained policy is saved to the job's output folder, and the configured generator (vLLM on GPU hosts)
loads it from there. Judging happens OUTSIDE the container (it needs API keys, which never enter a
candidate's container): ``harness judge`` on the written answers.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

from harness.generation import GenerationConfig, make_generator


def train_policy(suite, artifacts, session, *, seed: int, beta: float, out_dir: Path, device: str, gpus: int):
    from trl import DPOConfig

    from harness.suites.paper.config import paper_dpo_kwargs
    from harness.train import trainer_class

    trainer_cls = trainer_class()

    tokenizer = suite.load_tokenizer()
    model = suite.load_model(device)
    train = suite.config.train
    kwargs = paper_dpo_kwargs(train, n_pairs=len(artifacts.train_dataset), gpus=gpus,
                              output_dir=str(out_dir / "trainer"))
    kwargs.update(beta=beta, seed=seed, data_seed=seed, use_cpu=device == "cpu")
    trainer = trainer_cls(model=model, args=DPOConfig(**kwargs), train_dataset=artifacts.train_dataset,
                                processing_class=tokenizer, session=session)
    trainer.train()
    folder = out_dir / "policy"
    trainer.model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, {"loss_seconds": trainer.loss_seconds, "steps": trainer.state.global_step}


def generate_answers(suite, artifacts, policy_folder: Path, *, seed: int, generator: str) -> tuple[list[dict], dict]:
    gen = make_generator(generator, policy_folder)
    try:
        cfg = suite.config.generation
        cfg = GenerationConfig(**{**cfg.as_dict(), "seed": cfg.seed + seed})
        prompts = [r["prompt"] for r in artifacts.eval_rows]
        answers = gen.generate(prompts, cfg)
        rows = [{"id": r["id"], "prompt": r["prompt"], "reference": r.get("reference"),
                 "answers": [c.text for c in group], "finished": [c.finished for c in group],
                 "token_ids": [list(c.token_ids) for c in group]}
                for r, group in zip(artifacts.eval_rows, answers, strict=True)]
        # MT-Bench asks its second turn after the model's own first answer.
        if suite.config.data.eval_schema == "mt_bench":
            from harness.suites.paper.formats import mt_bench_second_turn

            tok = suite.load_tokenizer()
            second = [mt_bench_second_turn(tok, r["turns"], row["answers"][0])
                      for r, row in zip(artifacts.eval_rows, rows, strict=True)]
            for row, group in zip(rows, gen.generate(second, cfg), strict=True):
                row["second_turn_answers"] = [c.text for c in group]
        return rows, gen.describe()
    finally:
        gen.close()  # the vllm-server backend's server


def train_and_generate(suite, artifacts, session, *, seed: int, beta: float, out_dir, device: str = "cuda",
                       gpus: int = 1, generator: str | None = None) -> dict:
    out_dir = Path(out_dir)
    timings = {}
    t = time.perf_counter()
    policy, info = train_policy(suite, artifacts, session, seed=seed, beta=beta, out_dir=out_dir, device=device,
                                gpus=gpus)
    timings["train"] = time.perf_counter() - t
    gc.collect()
    try:
        import torch

        torch.cuda.empty_cache()  # vLLM sizes its KV cache from the free GPU memory
    except (ImportError, RuntimeError):
        pass
    t = time.perf_counter()
    rows, generation = generate_answers(suite, artifacts, policy, seed=seed,
                                        generator=generator or suite.config.generator)
    timings["generate"] = time.perf_counter() - t
    (out_dir / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = {"policy": str(policy), "answers": str(out_dir / "answers.jsonl"), "generation": generation,
              "train": info, "timings": timings}
    if suite.config.reward is not None:  # IMDb: reward and KL need the trained policy, so in the job
        from harness.suites.paper.imdb import evaluate_samples

        t = time.perf_counter()
        result["frontier_point"] = evaluate_samples(suite, artifacts, policy, rows, [r["token_ids"] for r in rows],
                                                    device=device, beta=beta)
        timings["reward_kl"] = time.perf_counter() - t
    return result
