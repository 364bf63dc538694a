"""The ``hf`` backend: batched, seeded Hugging Face ``generate`` on text prompts."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch

from harness.generation.base import Completion, GenerationConfig, declared_stop_ids


def generate_kwargs(cfg: GenerationConfig) -> dict:
    """Map the suite's sampling settings onto ``generate`` arguments (same meaning as vLLM's)."""
    if cfg.temperature == 0:
        return {"do_sample": False, "max_new_tokens": cfg.max_new_tokens}
    # top_k=0 and top_p=1 are passed explicitly: generate would otherwise apply the checkpoint's
    # generation_config defaults (often top_k=50), which vLLM does not.
    return {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k,
            "max_new_tokens": cfg.max_new_tokens, "num_return_sequences": cfg.samples_per_prompt}


class HFGenerator:
    name = "hf"

    def __init__(self, model, tokenizer, *, source: str = "in-memory"):
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        generation_config = getattr(model, "generation_config", None)
        # every end token the model declares, as the model's own generate() stops at them
        self.stop_ids = declared_stop_ids(tokenizer.eos_token_id, getattr(generation_config, "eos_token_id", None))
        if not self.stop_ids:
            raise ValueError("neither the tokenizer nor the model's generation_config names an EOS token: "
                             "generation could not stop")
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stop_ids[0]

    @classmethod
    def from_folder(cls, checkpoint, *, device: str = "cpu", dtype=None) -> HFGenerator:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(checkpoint)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32).to(device)
        return cls(model, AutoTokenizer.from_pretrained(folder), source=str(folder))

    def describe(self) -> dict:
        return {"backend": self.name, "transformers": importlib.metadata.version("transformers"),
                "torch": torch.__version__, "model": self.source, "device": str(self.model.device)}

    def close(self) -> None:
        """Nothing to release: the model belongs to the caller."""

    @torch.no_grad()
    def generate(self, prompts: list[str], cfg: GenerationConfig) -> list[list[Completion]]:
        was_training = self.model.training
        self.model.eval()
        out: list[list[Completion]] = []
        per = cfg.samples_per_prompt if cfg.temperature > 0 else 1
        # A local RNG fork: evaluation must not disturb the training RNG (and vice versa).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            for start in range(0, len(prompts), cfg.batch_size):
                out.extend(self._batch(prompts[start:start + cfg.batch_size], cfg, per))
        self.model.train(was_training)
        return out

    def _batch(self, prompts: list[str], cfg: GenerationConfig, per: int) -> list[list[Completion]]:
        ids = [self.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, x in enumerate(ids):  # left padding: every row's answer starts at the same column
            input_ids[i, width - len(x):] = torch.tensor(x)
            mask[i, width - len(x):] = 1
        gen = self.model.generate(input_ids=input_ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                  pad_token_id=self.pad_id, eos_token_id=list(self.stop_ids),
                                  **generate_kwargs(cfg))
        rows = gen[:, width:].tolist()
        grouped: list[list[Completion]] = [[] for _ in prompts]
        for j, row in enumerate(rows):
            end = next((i for i, token in enumerate(row) if token in self.stop_ids), None)
            finished = end is not None
            row = row[: end + 1] if finished else row
            # the end token is never text, even where the tokenizer does not mark it special
            text = self.tokenizer.decode(row[:end] if finished else row, skip_special_tokens=True)
            grouped[j // per].append(Completion(text.strip(), tuple(row), finished))
        return grouped
