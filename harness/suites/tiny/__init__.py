"""The ``tiny`` suite: a toy-scale replica of the DiscoPOP paper's IMDb experiment on any CPU.

Everything is built by the project (no hub): a synthetic review language (grammar.py), a word-level
tokenizer, a Llama-style model SFT-trained from scratch, on-policy pairs labelled by the gold judge
(harness.suites.tiny.gold), reference log-probs and reference completions (build.py). Artifacts are cached
under ``harness.paths.cache_dir()/tiny-<build_hash>/`` and sealed by a manifest (suites/cache.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import harness.suites.tiny.gold  # noqa: F401  (registers the suite's judge, "gold-tiny")
from harness.suites import cache
from harness.suites.base import DEFAULT_PLAN, Column, FrontierPoint, RunPlan, SuiteResult, Summary
from harness.suites.tiny.metrics import EvalConfig
from harness.suites.tiny.model import ModelConfig
from harness.train import TrainConfig


@dataclass(frozen=True)
class DataConfig:
    seed: int = 1234  # prompt pool, pair sampling and reference completions
    train_prompts: int = 1024  # distinct prompts for SFT and preference pairs
    eval_prompts: int = 256  # held-out prompts (never seen in SFT or pairs)
    pairs: int = 8192  # on-policy preference pairs (ties by gold reward dropped)


@dataclass(frozen=True)
class SFTConfig:
    seed: int = 0  # model initialisation and SFT data order
    steps: int = 1500
    batch_size: int = 64  # reviews per step, sampled fresh from the grammar
    learning_rate: float = 2e-3
    warmup_steps: int = 50


@dataclass(frozen=True)
class TinyConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    judge: str = "gold-tiny"
    # Tiny v2: beta 0.5, chosen by the pre-registered regime study (benchmarks/experiments/regime_study.py,
    # benchmarks/results/regime_study/): no DPO or SLiC seed bursts and paired seed SDs vs DPO of 2-4
    # points, against 10.5 at v1's 0.1, where a seed's verdict mostly measured when its training burst.
    beta: float = 0.5
    seeds: tuple[int, ...] = (0, 1, 2)  # default training seeds; ``--seeds N`` takes the first N+

    def as_dict(self) -> dict:
        return dict(asdict(self), train=self.train.as_dict())  # TrainConfig's own, hash-stable form

    def build_dict(self) -> dict:
        """The part of the config that determines the cached artifacts."""
        return {"data": asdict(self.data), "model": asdict(self.model), "sft": asdict(self.sft),
                "sample": asdict(self.eval.sample), "threads": cache.BUILD_THREADS, "judge": self.judge}


@dataclass
class TinyArtifacts:
    folder: Path
    tokenizer: object
    train_dataset: object  # datasets.Dataset with token ids and reference log-probs
    eval_prompts: list[str]
    eval_prompt_ids: list[list[int]]
    reference_text: list[list[str]]  # samples_per_prompt reference completions per eval prompt
    stats: dict

    @property
    def suppress(self) -> tuple[int, ...]:
        return (self.tokenizer.pad_token_id, self.tokenizer.unk_token_id)

    def load_policy(self):
        """A fresh copy of the SFT (reference) model."""
        from transformers import LlamaForCausalLM

        return LlamaForCausalLM.from_pretrained(self.folder / "model")

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.tokenizer.convert_ids_to_tokens(ids))


PROCESS_MIN_PAIRS = 4096  # pairs x steps per seed below which seeds run in one process


class TinySuite(cache.CachedSuite):
    """The matched-KL protocol (harness.suites.tiny.evaluate, metrics): win rate at a KL budget."""

    cache_family = "tiny"  # every variant (another beta) builds the same artifacts
    # The default build's artifacts ship with the code (a few MB): no machine rebuilds them, so every
    # machine trains from the same bytes (a rebuild differs in the last bits across package versions).
    shipped_dir = Path(__file__).resolve().parent / "shipped"
    beta_frontier = True  # end-of-training gold reward and KL per seed (harness.suites.tiny.frontier)
    # what its boards show: the primary win rate (at the KL budget), the gold reward and KL at the end of
    # training, and the stability diagnostic's burst rate (harness.suites.tiny.stability)
    board_columns = (Column("win_rate", "win rate @ KL budget", ci=True, percent=True), Column("reward", "reward"),
                     Column("kl", "KL at end", lower_is_better=True),
                     Column("burst_rate", "bursts", ci=True, count="burst_seeds", lower_is_better=True,
                            note="seeds whose KL moved more than 2 nats within a checkpoint interval or whose "
                                 "fluency fell below half of step 0 (harness.suites.tiny.stability), with the "
                                 "Clopper-Pearson 95% CI of the rate"),
                     Column("win_rate_calm", "win rate, calm seeds", ci=True, percent=True,
                            note="the primary win rate over the seeds that did not burst, with its crossed 95% CI "
                                 "(blank: fewer than 2 calm seeds measured); read it beside the burst rate"))
    gate_metric = "win_rate"
    judged_outside = False

    @property
    def parallel_seeds(self) -> bool:
        """Seeds train side by side in worker processes (harness.suites.tiny.workers) when a seed's
        training is long enough to pay for a worker's start (~4 s: torch, the suite, a sandbox): at
        least PROCESS_MIN_PAIRS pairs x steps (the default suite: 8,192; test-size configs run in one)."""
        return self.config.train.steps * self.config.train.batch_size >= PROCESS_MIN_PAIRS

    def __init__(self, config: TinyConfig | None = None, *, name: str = "tiny"):
        super().__init__(config or TinyConfig())
        self.name = name  # "tiny", or a registered variant with its own board ("tiny-beta0.05")

    def with_overrides(self, overrides: dict) -> TinySuite:
        from harness.suites.overrides import apply_overrides

        return TinySuite(apply_overrides(self.config, overrides), name=self.name)

    def usage_error(self, plan: RunPlan = DEFAULT_PLAN, *, in_container: bool = False) -> str | None:
        """None: the matched-KL protocol supports every mode of a run plan, locally and in containers."""
        return None

    def screen_overrides(self, fraction: float) -> dict:
        """A whole number of checkpoints (the matched-KL trajectory is evaluated at each)."""
        from harness.suites.base import shorter_training

        train = self.config.train
        return shorter_training(self.name, train.steps, train.checkpoint_every, fraction)

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
                  plan: RunPlan = DEFAULT_PLAN) -> SuiteResult:
        """``plan.thorough``: every seed at each learning rate of the grid, pooled (harness.suites.tiny.thorough);
        ``plan.adaptive``: ``--seeds auto``, seeds taken in order (one process); ``plan.parallel``: seeds side
        by side in worker processes."""
        if plan.thorough:
            from harness.suites.tiny.thorough import run_thorough

            return run_thorough(self, artifacts, session, seeds, beta, plan.learning_rates, progress=progress)
        from harness.suites.tiny.evaluate import run_seeds

        in_processes = None
        if plan.parallel is not None and plan.parallel.count > 1:
            from harness.suites.tiny.workers import train_seeds_in_processes

            spec, count = plan.parallel.session, plan.parallel.count

            def in_processes(suite, seeds, beta, bar):
                return train_seeds_in_processes(suite, spec, seeds, beta, count, bar)

        return run_seeds(self, artifacts, session, seeds, beta, progress=progress, auto=plan.adaptive,
                         in_processes=in_processes)

    def board_metrics(self, record: dict) -> dict:
        """The record's metrics with the burst rate recomputed from the trajectories when the record predates
        the stability diagnostic (None where it cannot be: no trajectories), and the calm-seed win rate
        (``win_rate_calm`` and its ``_ci``: harness.suites.tiny.summary.calm_estimate; None with fewer
        than 2 calm seeds measured). Both are read from fields a board verifies (the flags against the
        trajectories, the tables against the headline), never taken from the record's own metrics."""
        from harness.suites.tiny.stability import record_bursts
        from harness.suites.tiny.summary import calm_estimate

        b = record_bursts(record)
        bursts = {k: None if b is None else b[k] for k in ("burst_rate", "burst_rate_ci", "burst_seeds")}
        reading = calm_estimate(record, b)
        est = reading[0] if reading else None
        calm = {"win_rate_calm": None if est is None else est.mean,
                "win_rate_calm_ci": None if est is None else [est.low, est.high]}
        return {**(record.get("metrics") or {}), **bursts, **calm}

    def check_record(self, record: dict) -> None:
        """The burst fields agree with the trajectories and the burst metrics with the seeds' flags."""
        from harness.suites.tiny.stability import check_bursts

        check_bursts(record)

    def frontier_point(self, record: dict, path: str) -> FrontierPoint:
        from harness.suites.tiny.frontier import point

        return point(record, path)

    def summary(self, record: dict) -> Summary:
        from harness.suites.tiny.summary import summary

        return summary(record)

    def seed_job(self, artifacts, session, seed: int, beta: float, *, device: str = "cpu", gpus: int = 1,
                 work_dir=None) -> dict:
        from harness.suites.tiny.evaluate import seed_job

        return seed_job(self, artifacts, session, seed, beta)

    def pool_seed_jobs(self, artifacts, outputs: list[dict], seeds: list[int]) -> SuiteResult:
        from harness.suites.tiny.evaluate import pool_seed_jobs

        return pool_seed_jobs(self, outputs, seeds, artifacts.eval_prompts, artifacts.reference_text)

    def build(self, *, progress: bool = True) -> TinyArtifacts:
        from harness.suites.tiny.build import build

        folder = self.ensure_artifacts(lambda tmp: build(tmp, self.config, progress))
        return self.load(folder)

    def load(self, folder: Path) -> TinyArtifacts:
        from datasets import Dataset

        from harness.suites.tiny.tokenizer import load_tokenizer

        pairs = json.loads((folder / "pairs.json").read_text())
        columns = ("prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps")
        dataset = Dataset.from_dict({c: [r[c] for r in pairs] for c in columns})
        rows = json.loads((folder / "eval.json").read_text())
        return TinyArtifacts(folder, load_tokenizer(folder / "tokenizer"), dataset, [r["prompt"] for r in rows],
                             [r["prompt_ids"] for r in rows], [r["reference_text"] for r in rows],
                             json.loads((folder / "build.json").read_text()))

    def describe(self) -> dict:
        c = self.config
        cached = self.cache_folder() / cache.MANIFEST
        return {
            "name": self.name,
            "description": "synthetic movie reviews; steer a 2-layer Llama towards positive reviews; "
                           f"gold sentiment judge; beta {c.beta:g}",
            "size": f"{c.data.pairs} pairs, {c.data.eval_prompts} eval prompts x {c.eval.sample.samples_per_prompt} "
                    f"samples, {c.train.steps} steps",
            "hardware": "any CPU (2 cores)",
            "expected_time": "build ~2 min once; ~1 min per loss (3 seeds)",
            "cached": cached.is_file(),
            "config_hash": self.config_hash(),
        }
