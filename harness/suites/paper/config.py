"""The DiscoPOP paper's setups as frozen data: model, dataset, prompts, training, generation, judge, metric.

Figures are the paper's (arXiv 2406.08414, section 4 and appendix; official code, a fork of
alignment-handbook): zephyr-7b-gemma-sft-v0.1 fine-tuned on argilla/dpo-mix-7k with beta 0.05,
lr 5e-7 cosine, warmup 0.1, 2 epochs, effective batch 128, max_length 1024, max_prompt_length 512,
seed 42, bf16, full fine-tune (ZeRO-3 on 8 x A100, ~30 min per candidate).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from harness.generation import GenerationConfig

ZEPHYR_GEMMA_SFT = "HuggingFaceH4/zephyr-7b-gemma-sft-v0.1"


@dataclass(frozen=True)
class ModelSpec:
    policy: str  # hub id; the reference model is the same checkpoint (frozen)
    architecture: str  # transformers model_type, used for the tiny same-architecture test models
    chat_template: bool = True  # False: plain-text continuation (gpt2-imdb has no chat template)
    dtype: str = "bfloat16"


@dataclass(frozen=True)
class DataSpec:
    train: str  # hub id of the preference pairs
    train_split: str
    schema: str  # which formatter reads it (harness.suites.paper.formats.FORMATTERS)
    eval: str  # hub id of the evaluation prompts
    eval_split: str
    eval_schema: str
    train_config: str | None = None
    eval_config: str | None = None
    eval_limit: int | None = None  # prompts kept (seeded subsample), None = all


@dataclass(frozen=True)
class PaperTraining:
    beta: float = 0.05
    learning_rate: float = 5e-7
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    epochs: int = 2
    effective_batch: int = 128  # per_device x accumulation x GPUs
    per_device_batch: int = 2
    max_length: int = 1024
    max_prompt_length: int = 512
    seed: int = 42
    bf16: bool = True
    gradient_checkpointing: bool = True

    def __post_init__(self):
        if self.effective_batch % self.per_device_batch:
            raise ValueError("effective_batch must be a multiple of per_device_batch")
        if self.max_prompt_length >= self.max_length:
            raise ValueError("max_prompt_length must be below max_length")

    def accumulation(self, gpus: int) -> int:
        """Gradient accumulation steps that keep the paper's effective batch on ``gpus`` GPUs."""
        per_step = self.per_device_batch * gpus
        if self.effective_batch % per_step:
            raise ValueError(f"effective batch {self.effective_batch} is not a multiple of "
                             f"{self.per_device_batch} x {gpus} GPUs")
        return self.effective_batch // per_step


def paper_dpo_kwargs(train: PaperTraining, *, n_pairs: int, gpus: int, output_dir: str) -> dict:
    """TRL ``DPOConfig`` arguments reproducing the paper's schedule on ``gpus`` GPUs.

    Warmup is 10% of the optimizer steps of 2 epochs at the effective batch of 128 (the paper's
    ``warmup_ratio`` 0.1, given as steps because transformers 5 takes steps).
    """
    accumulation = train.accumulation(gpus)
    steps = math.ceil(n_pairs / train.effective_batch) * train.epochs
    return {
        "output_dir": output_dir, "beta": train.beta, "learning_rate": train.learning_rate,
        "lr_scheduler_type": train.lr_scheduler, "warmup_steps": math.ceil(train.warmup_ratio * steps),
        "num_train_epochs": train.epochs, "per_device_train_batch_size": train.per_device_batch,
        "gradient_accumulation_steps": accumulation, "max_length": train.max_length, "seed": train.seed,
        "data_seed": train.seed, "bf16": train.bf16, "activation_checkpointing": train.gradient_checkpointing,
        "precompute_ref_log_probs": True, "remove_unused_columns": False, "save_strategy": "no",
        "report_to": [], "logging_steps": 10,
    }


@dataclass(frozen=True)
class RewardSpec:
    """IMDb: reward = P(positive) from a sentiment classifier; KL(policy || reference) on samples."""

    classifier: str = "siebert/sentiment-roberta-large-english"
    positive_label: str = "POSITIVE"
    beta_sweep: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)  # the paper sweeps 0.01 ... 5


@dataclass(frozen=True)
class PaperSuiteConfig:
    name: str
    description: str
    model: ModelSpec
    data: DataSpec
    train: PaperTraining
    generation: GenerationConfig
    judge: str | None  # a registered judge id (harness.judges.JUDGES); None: the metric is computed by code
    reference: str  # what the policy's answers are compared with
    metric: str
    second_reference: str | None = None  # the paper also reports win rates vs the SFT model
    reward: RewardSpec | None = None
    generator: str = "vllm"  # explicit; "hf" is the CPU / fallback path
    hardware: str = "8 x A100 80GB (or equivalent), ~30 min per candidate"
    expected_time: str = "~30 min train + generation per candidate"
    size: str = ""
    paper_results: dict = field(default_factory=dict)  # headline numbers, for comparison in reports

    @property
    def beta(self) -> float:
        return self.train.beta

    def as_dict(self) -> dict:
        return asdict(self)


MT_BENCH = PaperSuiteConfig(
    name="mt-bench",
    description="the paper's discovery task: zephyr-7b-gemma-sft on dpo-mix-7k, judged on MT-Bench (GPT-4, 1-10)",
    model=ModelSpec(ZEPHYR_GEMMA_SFT, "gemma"),
    data=DataSpec("argilla/dpo-mix-7k", "train", "messages", "HuggingFaceH4/mt_bench_prompts", "train",
                  "mt_bench"),
    train=PaperTraining(),
    # MT-Bench (FastChat) samples per category; 0.7 is the paper's setting for its other chat tasks.
    generation=GenerationConfig(max_new_tokens=1024, temperature=0.7, seed=42, batch_size=80),
    judge="single-grade", reference="MT-Bench reference answers (math, reasoning, coding)",
    metric="mean MT-Bench score over 80 questions x 2 turns",
    size="~7k pairs, 80 questions x 2 turns",
    paper_results={"DPO": 7.888, "SLiC": 7.881, "LRML": 7.916, "PADLL": 7.941, "AQFL": 7.931},
)

ALPACA_EVAL = PaperSuiteConfig(
    name="alpaca-eval",
    description="held-out: Alpaca Eval 2.0, 805 instructions, pairwise weighted judge vs GPT-4 Turbo and vs SFT",
    model=ModelSpec(ZEPHYR_GEMMA_SFT, "gemma"),
    data=DataSpec("argilla/dpo-mix-7k", "train", "messages", "tatsu-lab/alpaca_eval", "eval", "alpaca_eval",
                  eval_config="alpaca_eval_gpt4_baseline"),
    train=PaperTraining(),
    generation=GenerationConfig(max_new_tokens=1024, temperature=0.7, seed=42, batch_size=805),
    judge="pairwise-weighted", reference="gpt4_turbo outputs (alpaca_eval_gpt4_baseline)",
    second_reference="the SFT model's outputs",
    metric="win rate and length-controlled win rate (%) vs GPT-4 Turbo and vs SFT",
    size="~7k pairs, 805 instructions",
    paper_results={"DPO": {"wr_gpt4": 11.23, "lc_gpt4": 12.81, "wr_sft": 78.72, "lc_sft": 63.34},
                   "LRML": {"wr_gpt4": 13.21, "lc_gpt4": 14.78, "wr_sft": 79.27, "lc_sft": 65.18}},
)

TLDR = PaperSuiteConfig(
    name="tldr",
    description="held-out: Reddit TL;DR summarisation, GPT-4 pairwise judge vs the human reference and vs SFT",
    # Our notes do not name the TL;DR policy; the suite uses the main setup's SFT model (override
    # model.policy for another).
    model=ModelSpec(ZEPHYR_GEMMA_SFT, "gemma"),
    data=DataSpec("CarperAI/openai_summarize_comparisons", "train[:10%]", "tldr",
                  "CarperAI/openai_summarize_comparisons", "test", "tldr", eval_limit=694),
    train=PaperTraining(),
    generation=GenerationConfig(max_new_tokens=256, temperature=0.7, seed=42, batch_size=694),
    judge="pairwise-verdict", reference="the human-written TL;DR (chosen summary)",
    second_reference="the SFT model's summaries",
    metric="win rate (%) vs the human reference",
    size="~9k pairs (10% of train), 694 posts",
    paper_results={"DPO": 88.27, "LRML": 87.63, "PADLL": 88.54, "SLiC": 83.02, "KTO": 85.34},
)

IMDB = PaperSuiteConfig(
    name="imdb",
    description="held-out: positive IMDb reviews with gpt2-imdb; sentiment reward vs KL to the reference, "
                "beta sweep for the reward-KL frontier",
    model=ModelSpec("lvwerra/gpt2-imdb", "gpt2", chat_template=False, dtype="float32"),
    data=DataSpec("ZHZisZZ/imdb_preference", "train", "imdb_preference", "ZHZisZZ/imdb_preference", "test",
                  "imdb_prompts"),
    train=PaperTraining(per_device_batch=16, max_length=256, max_prompt_length=64, bf16=False,
                        gradient_checkpointing=False),
    generation=GenerationConfig(max_new_tokens=60, temperature=1.0, samples_per_prompt=4, seed=42,
                                batch_size=256),
    judge=None, reference="the SFT model (KL is measured against it)",
    metric="mean P(positive) of samples and KL(policy || reference) per beta: the reward-KL frontier",
    reward=RewardSpec(),
    generator="hf",  # 124M parameters: HF generate on one GPU is enough
    hardware="1 GPU (any), one job per beta (containers/launch.py; no judge, so not harness bench)",
    expected_time="~10 min per beta on one GPU",
    size="20k pairs, 1k test prompts x 4 samples",
    paper_results={"DPO@0.05": {"reward": 0.972, "kl": 0.990}, "LRML@0.05": {"reward": 0.975, "kl": 0.656}},
)

PAPER_SUITES = (MT_BENCH, ALPACA_EVAL, TLDR, IMDB)
