"""The ``vllm`` backend: vLLM's offline ``LLM(...).generate`` on GPU hosts.

vLLM has no CPU wheel; it is imported only when this backend is constructed, never on the CPU path
or at import time of this module. API used (vLLM docs, offline inference): ``LLM(model=FOLDER, ...)``
loads a Hugging Face checkpoint folder (the job's trained policy), ``SamplingParams(n, temperature,
top_p, top_k, max_tokens, seed, ...)`` holds the sampling settings, and ``llm.generate(prompts,
params)`` returns one ``RequestOutput`` per prompt, in order, whose ``.outputs`` are the ``n``
completions (``.text``, ``.token_ids``, ``.finish_reason``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

from harness.generation.base import Completion, GenerationConfig


class VLLMUnavailable(RuntimeError):
    """vLLM is not installed (it needs a CUDA GPU host)."""


def sampling_kwargs(cfg: GenerationConfig) -> dict:
    """``SamplingParams`` arguments for the suite's settings; the same meaning as ``hf``'s."""
    kwargs = {"n": cfg.samples_per_prompt, "max_tokens": cfg.max_new_tokens, "seed": cfg.seed,
              "skip_special_tokens": True}
    if cfg.temperature == 0:
        kwargs.update(temperature=0.0, n=1)  # vLLM treats temperature 0 as greedy
    else:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
        if cfg.top_k > 0:  # left out when disabled: vLLM's default already considers all tokens
            kwargs["top_k"] = cfg.top_k
    return kwargs


def _import_vllm():
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise VLLMUnavailable(f"the vllm generator needs vLLM on a CUDA GPU host: pip install 'harness[gpu]' "
                              f"(import failed: {e}); use generator 'hf' on CPU") from None


class VLLMGenerator:
    name = "vllm"

    def __init__(self, checkpoint, *, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, seed: int = 0):
        folder = Path(checkpoint)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: not a checkpoint folder (no config.json); vLLM loads the "
                                    "trained policy saved by the job")
        self._vllm = _import_vllm()
        self.source = str(folder)
        self.options = {"dtype": dtype, "gpu_memory_utilization": gpu_memory_utilization, "seed": seed}
        if max_model_len:
            self.options["max_model_len"] = max_model_len
        self.llm = self._vllm.LLM(model=self.source, tokenizer=self.source, **self.options)

    def describe(self) -> dict:
        try:
            version = importlib.metadata.version("vllm")
        except importlib.metadata.PackageNotFoundError:
            version = getattr(self._vllm, "__version__", "unknown")
        return {"backend": self.name, "vllm": version, "model": self.source, **self.options}

    def generate(self, prompts: list[str], cfg: GenerationConfig) -> list[list[Completion]]:
        params = self._vllm.SamplingParams(**sampling_kwargs(cfg))
        outputs = self.llm.generate(prompts, params)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        return [[Completion(o.text.strip(), tuple(o.token_ids), o.finish_reason == "stop") for o in req.outputs]
                for req in outputs]
