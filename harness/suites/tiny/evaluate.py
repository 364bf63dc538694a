"""Per-seed training with in-memory checkpoint evaluation (generate -> judge -> checkpoint metrics).

Called by ``harness.bench.run_bench``; works on any suite whose artifacts expose ``load_policy()``,
``tokenizer``, ``train_dataset``, ``eval_prompts``, ``eval_prompt_ids``, ``reference_text``,
``decode()`` and ``suppress``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from harness.judges.base import JUDGES, Comparison
from harness.suites import SuiteResult
from harness.suites.logprobs import sequence_logps
from harness.suites.tiny import generate
from harness.suites.tiny.metrics import Checkpoint, aggregate, distinct_n, seed_metrics
from harness.train import train

GENERATION_SEED_OFFSET = 10_000  # policy samples never share a seed with the suite's reference samples


class _Progress:
    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="train+eval", unit="step", disable=not enabled, leave=False)

    def set(self, text: str, advance: int = 0):
        self.bar.set_description(text)
        self.bar.update(advance)

    def close(self):
        self.bar.close()


def evaluate_checkpoint(model, ref_model, artifacts, judge, cfg, *, step: int, seed: int) -> Checkpoint:
    """Sample from the policy, judge against the reference completions, estimate KL(policy || ref)."""
    tok = artifacts.tokenizer
    samples, policy_logps = generate.sample(model, artifacts.eval_prompt_ids, cfg.sample, seed=GENERATION_SEED_OFFSET + seed,
                              pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, suppress=artifacts.suppress)
    k = cfg.sample.samples_per_prompt
    prompts = [p for p in artifacts.eval_prompt_ids for _ in range(k)]
    flat = [c for per_prompt in samples for c in per_prompt]
    # KL(pi || ref) = E_{y ~ pi}[log pi(y) - log ref(y)], estimated on the policy's own samples.
    kl = policy_logps - sequence_logps(ref_model, prompts, flat, pad_id=tok.pad_token_id,
                                                suppress=artifacts.suppress)
    comparisons = [
        Comparison(artifacts.eval_prompts[i], artifacts.decode(samples[i][j]), artifacts.reference_text[i][j], str(i))
        for i in range(len(samples)) for j in range(k)
    ]
    judgments = judge.judge(comparisons)
    pref = np.array([j.preference for j in judgments]).reshape(-1, k)
    reward = np.array([j.details["reward"] for j in judgments]).reshape(-1, k)
    return Checkpoint(
        step=step, win=pref.mean(axis=1), reward=reward.mean(axis=1), kl=float(kl.mean()),
        fluency=float(np.mean([j.details["fluent"] for j in judgments])),
        mean_length=float(np.mean([len(c) for c in flat])),
        distinct={n: distinct_n(flat, n) for n in range(1, cfg.distinct_n + 1)},
    )


STEP0_FOLDER = "step0"  # beside the sealed artifacts; not in the manifest, so a bad file is just recomputed


def reference_checkpoint(artifacts, judge, cfg, *, seed: int, compute) -> Checkpoint:
    """The step-0 checkpoint, evaluated once per suite and seed and then reused from disk.

    At step 0 the policy IS the reference model, so this evaluation depends on the suite build, the
    evaluation settings, the judge and the seed, never on the loss: like the reference log-probs it
    is computed once per suite, not per candidate (1/9 of the evaluation time with the defaults).
    An unreadable or mismatched file is recomputed; a read-only cache (a job container) is not
    written to."""
    key = hashlib.sha256(json.dumps(
        {"sample": asdict(cfg.sample), "distinct_n": cfg.distinct_n, "judge": judge.hash, "seed": seed,
         "offset": GENERATION_SEED_OFFSET}, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(artifacts.folder) / STEP0_FOLDER / f"{key}.npz"
    n = len(artifacts.eval_prompt_ids)
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            cached = Checkpoint(step=0, win=f["win"], reward=f["reward"], kl=meta["kl"], fluency=meta["fluency"],
                                mean_length=meta["mean_length"],
                                distinct={int(k): v for k, v in meta["distinct"].items()})
        if meta.get("key") == key and cached.win.shape == (n,) and cached.reward.shape == (n,):
            return cached
    except Exception:  # noqa: BLE001  (missing, partial or corrupted: compute it)
        pass
    checkpoint = compute()
    meta = {"key": key, "kl": checkpoint.kl, "fluency": checkpoint.fluency, "mean_length": checkpoint.mean_length,
            "distinct": checkpoint.distinct}
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}.npz")
        np.savez(tmp, win=checkpoint.win, reward=checkpoint.reward, meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)
    except OSError:
        pass
    return checkpoint


def run_seeds(suite, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True) -> SuiteResult:
    """Train and evaluate every seed on the matched-KL protocol (``TinySuite.run_seeds``)."""
    per_seed, arrays, judge_info, timings = train_seeds(suite, artifacts, session, seeds, beta, progress=progress)
    t = time.perf_counter()
    metrics = aggregate(per_seed, arrays, suite.config.eval)
    timings["aggregate"] = time.perf_counter() - t
    return SuiteResult(per_seed, metrics, judge_info, timings)


def train_seeds(suite, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True):
    """The matched-KL protocol's per-seed part: (per_seed metrics, per-prompt arrays, judge_info, timings)."""
    cfg = suite.config
    judge = JUDGES.get(cfg.judge)()
    ref_model = artifacts.load_policy()
    ref_model.eval()
    timings = {"train": 0.0, "evaluate": 0.0, "loss_calls": 0.0}
    per_seed, arrays = [], []
    bar = _Progress(len(seeds) * cfg.train.steps, progress)
    try:
        for seed in seeds:
            trajectory: list[Checkpoint] = []

            def on_checkpoint(model, step, seed=seed, trajectory=trajectory):
                t = time.perf_counter()

                def compute(model=model, step=step, seed=seed):
                    return evaluate_checkpoint(model, ref_model, artifacts, judge, cfg.eval, step=step, seed=seed)

                trajectory.append(reference_checkpoint(artifacts, judge, cfg.eval, seed=seed, compute=compute)
                                  if step == 0 else compute())
                timings["evaluate"] += time.perf_counter() - t
                last = trajectory[-1]
                bar.set(f"seed {seed}: KL {last.kl:.2f} win {last.win.mean():.2f}",
                        cfg.train.checkpoint_every if step else 0)

            policy = artifacts.load_policy()
            t = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="harness-trl-") as out:
                info = train(policy, artifacts.train_dataset, artifacts.tokenizer, session, cfg.train, beta=beta,
                             seed=seed, output_dir=out, evaluate=on_checkpoint)
            timings["loss_calls"] += info["loss_seconds"]
            timings["train"] += time.perf_counter() - t
            metrics, seed_arrays = seed_metrics(seed, trajectory, cfg.eval)
            per_seed.append(metrics)
            arrays.append(seed_arrays)
    finally:
        bar.close()
    timings["train"] -= timings["evaluate"]  # evaluation runs inside the trainer's callbacks
    torch.set_num_threads(cfg.train.threads)
    return per_seed, arrays, {"id": judge.id, "hash": judge.hash}, timings
