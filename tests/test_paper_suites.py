"""Paper suites as data: hyperparameters, formatting with chat templates, data loaders on local fixture
files in the hub schemas, tiny random models of the same architectures (no downloads)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.suites.logprobs import sequence_logps
from harness.suites.paper import PAPER_SUITES, PaperSuite, formats, imdb, tokens
from harness.suites.paper.config import ALPACA_EVAL, IMDB, MT_BENCH, TLDR, paper_dpo_kwargs

FIX = Path(__file__).parent / "fixtures" / "paper"
LOCAL = {
    "mt-bench": {"train": FIX / "dpo_mix_7k.jsonl", "eval": FIX / "mt_bench_prompts.jsonl"},
    "alpaca-eval": {"train": FIX / "dpo_mix_7k.jsonl", "eval": FIX / "alpaca_eval.jsonl"},
    "tldr": {"train": FIX / "openai_summarize_comparisons.jsonl", "eval": FIX / "openai_summarize_comparisons.jsonl"},
    "imdb": {"train": FIX / "imdb_preference.jsonl", "eval": FIX / "imdb_preference.jsonl"},
}


@pytest.fixture(scope="module")
def tokenizer():
    """A real BPE tokenizer (SmolLM2's, from the installed package) with a ChatML-with-BOS template."""
    from harness.suites.smol import smollm2

    try:
        tok = smollm2.load_tokenizer()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"needs a local tokenizer: {e}")
    tok = tok.__class__.from_pretrained(smollm2.ensure_converted())
    tok.chat_template = (FIX / "chatml_bos.jinja").read_text()
    tok.bos_token = "<|endoftext|>"
    return tok


def tiny_model(arch: str, vocab: int):
    from transformers import AutoModelForCausalLM, GemmaConfig, GPT2Config

    torch.manual_seed(0)
    cfg = {"gemma": lambda: GemmaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, head_dim=8),
           "gpt2": lambda: GPT2Config(vocab_size=vocab, n_embd=16, n_layer=1, n_head=2, n_positions=512)}[arch]()
    return AutoModelForCausalLM.from_config(cfg)


def test_paper_hyperparameters_and_hub_ids():
    assert [c.name for c in PAPER_SUITES] == ["mt-bench", "alpaca-eval", "tldr", "imdb"]
    for c in (MT_BENCH, ALPACA_EVAL, TLDR):
        t = c.train
        assert (t.beta, t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.epochs, t.effective_batch,
                t.max_length, t.max_prompt_length, t.seed) == (0.05, 5e-7, "cosine", 0.1, 2, 128, 1024, 512, 42)
        assert c.model.policy == "HuggingFaceH4/zephyr-7b-gemma-sft-v0.1" and c.model.architecture == "gemma"
    assert MT_BENCH.data.train == "argilla/dpo-mix-7k" and MT_BENCH.judge == "single-grade"
    assert ALPACA_EVAL.generation.max_new_tokens == 1024 and ALPACA_EVAL.generation.temperature == 0.7
    assert TLDR.data.train_split == "train[:10%]" and TLDR.generation.max_new_tokens == 256
    assert IMDB.model.policy == "lvwerra/gpt2-imdb" and IMDB.generation.max_new_tokens == 60
    assert IMDB.reward.classifier == "siebert/sentiment-roberta-large-english"
    assert min(IMDB.reward.beta_sweep) == 0.01 and max(IMDB.reward.beta_sweep) == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        MT_BENCH.train.beta = 0.1  # type: ignore[misc]


def test_dpo_arguments_keep_the_effective_batch_and_warmup():
    kw = paper_dpo_kwargs(MT_BENCH.train, n_pairs=7000, gpus=8, output_dir="/tmp/x")
    assert kw["per_device_train_batch_size"] * kw["gradient_accumulation_steps"] * 8 == 128
    assert kw["warmup_steps"] == math.ceil(0.1 * math.ceil(7000 / 128) * 2)
    assert kw["lr_scheduler_type"] == "cosine" and kw["beta"] == 0.05 and kw["precompute_ref_log_probs"]
    with pytest.raises(ValueError, match="multiple"):
        MT_BENCH.train.accumulation(3)
    from trl import DPOConfig

    DPOConfig(**{**kw, "bf16": False, "activation_checkpointing": False, "use_cpu": True})  # TRL accepts every name


def test_messages_pairs_use_the_models_template(tokenizer):
    rows = formats.load_split("argilla/dpo-mix-7k", "train", local=LOCAL["mt-bench"]["train"])
    pair = formats.messages_pair(rows[1], tokenizer)  # multi-turn
    assert pair["prompt"].startswith("<|endoftext|><|im_start|>user\nName a prime number.<|im_end|>")
    assert "<|im_start|>assistant\n7 is prime.<|im_end|>" in pair["prompt"]  # earlier turns kept
    assert pair["prompt"].endswith("<|im_start|>user\nAnd an even one?<|im_end|>\n<|im_start|>assistant\n")
    assert pair["chosen"] == "2 is the only even prime.<|im_end|>\n"  # ends with the end-of-turn marker
    assert pair["rejected"] == "4.<|im_end|>\n"
    ids = tokens.tokenize_pair(tokenizer, pair, max_length=1024, max_prompt_length=512)
    assert ids["prompt_ids"].count(tokenizer.bos_token_id) == 1  # the template's BOS only, not doubled


def test_broken_pairs_and_templates_are_refused(tokenizer):
    row = {"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
           "rejected": [{"role": "user", "content": "OTHER"}, {"role": "assistant", "content": "c"}]}
    with pytest.raises(formats.FormatError, match="differ"):
        formats.messages_pair(row, tokenizer)
    odd = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    odd.chat_template = ("{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}ANSWER:{% endif %}")
    row["rejected"][0]["content"] = "a"
    with pytest.raises(formats.FormatError, match="prefix"):
        formats.messages_pair(row, odd)


def test_tldr_prompts_contain_the_post(tokenizer):
    rows = formats.load_split("CarperAI/openai_summarize_comparisons", "train", local=LOCAL["tldr"]["train"])
    pair = formats.tldr_pair(rows[2], tokenizer)
    assert "POST: I have 5k left at 6% interest" in pair["prompt"]
    assert formats.TLDR_INSTRUCTION in pair["prompt"]
    assert pair["chosen"].startswith("5k car loan") and "TL;DR:" not in pair["chosen"]
    with pytest.raises(formats.FormatError, match="without a post"):
        formats.tldr_pair(rows[5], tokenizer)


def test_tldr_eval_dedupes_posts_and_subsamples_reproducibly(tokenizer):
    rows = formats.load_split("x", "test", local=LOCAL["tldr"]["eval"]).select(range(5))
    ev = formats.eval_rows(rows, "tldr", tokenizer, limit=None, seed=42)
    assert len(ev) == 3 and all("POST:" in r["prompt"] for r in ev)
    a = formats.eval_rows(rows, "tldr", tokenizer, limit=2, seed=42)
    assert [r["id"] for r in a] == [r["id"] for r in formats.eval_rows(rows, "tldr", tokenizer, limit=2, seed=42)]


def test_mt_bench_and_alpaca_eval_rows(tokenizer):
    mt = formats.eval_rows(formats.load_split("x", "train", local=LOCAL["mt-bench"]["eval"]), "mt_bench",
                           tokenizer, limit=None, seed=0)
    assert len(mt) == 3 and mt[1]["reference"] == ["21", "7"] and mt[1]["category"] == "math"
    second = formats.mt_bench_second_turn(tokenizer, mt[1]["turns"], "It is 21.")
    assert "<|im_start|>assistant\nIt is 21.<|im_end|>\n<|im_start|>user\nNow divide that by 3." in second
    al = formats.eval_rows(formats.load_split("x", "eval", local=LOCAL["alpaca-eval"]["eval"]), "alpaca_eval",
                           tokenizer, limit=None, seed=0)
    assert al[0]["reference"].startswith("Hugh Jackman") and al[0]["reference_generator"] == "gpt4_turbo"


def test_truncation_keeps_the_end_of_the_prompt(tokenizer):
    pair = {"prompt": "word " * 50 + "QUESTION<|im_start|>assistant\n", "chosen": "yes " * 30, "rejected": "no"}
    ids = tokens.tokenize_pair(tokenizer, pair, max_length=40, max_prompt_length=10)
    assert len(ids["prompt_ids"]) == 10 and tokenizer.decode(ids["prompt_ids"]).endswith("assistant\n")
    assert len(ids["prompt_ids"]) + len(ids["chosen_ids"]) == 40


@pytest.mark.parametrize("name", ["mt-bench", "imdb"])
def test_build_on_fixtures_with_tiny_models_caches_reference_logps(name, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    config = {c.name: c for c in PAPER_SUITES}[name]
    suite = PaperSuite(config)
    model = tiny_model(config.model.architecture, len(tokenizer))
    art = suite.build(local=LOCAL[name], tokenizer=tokenizer, model=model, device="cpu")
    ds = art.train_dataset
    assert len(ds) == 4 and set(ds.column_names) >= {"prompt_ids", "chosen_ids", "ref_chosen_logps"}
    again = sequence_logps(model, [ds[0]["prompt_ids"]], [ds[0]["chosen_ids"]],
                           pad_id=tokenizer.eos_token_id).tolist()
    assert again[0] == pytest.approx(ds[0]["ref_chosen_logps"], rel=1e-5) and again[0] < 0

    class NoModel:  # a second build must come from the cache: the reference model is never run again
        def __getattr__(self, item):
            raise AssertionError("reference model used again")

    cached = suite.build(local=LOCAL[name], tokenizer=tokenizer, model=NoModel(), device="cpu")
    assert cached.folder == art.folder and len(cached.eval_rows) == len(art.eval_rows)


def test_imdb_reward_and_kl(tokenizer):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    clf = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=128, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
        pad_token_id=tokenizer.pad_token_id))
    r = imdb.sentiment_rewards(clf, tokenizer, ["great film", "awful film", "meh"])
    assert r.shape == (3,) and np.all((r > 0) & (r < 1))
    with pytest.raises(ValueError, match="POS"):
        imdb.sentiment_rewards(clf, tokenizer, ["x"], positive_label="POS")
    policy, other = tiny_model("gpt2", len(tokenizer)), tiny_model("gpt2", len(tokenizer))
    torch.nn.init.normal_(other.transformer.wte.weight, std=1.0)
    prompts, samples = [[5, 6], [7]], [[8, 9, 10], [11, 12]]
    assert imdb.kl_to_reference(policy, policy, prompts, samples, pad_id=0) == pytest.approx(0.0, abs=1e-9)
    assert imdb.kl_to_reference(policy, other, prompts, samples, pad_id=0) != 0
    sweep = [PaperSuite(IMDB).with_overrides(o) for o in imdb.sweep_overrides(IMDB.reward)]
    assert [s.config.train.beta for s in sweep] == list(IMDB.reward.beta_sweep)
    assert len({s.config_hash() for s in sweep}) == len(sweep)


def test_describe_states_hardware_and_time():
    for c in PAPER_SUITES:
        d = PaperSuite(c).describe()
        assert d["hardware"] and d["expected_time"] and d["size"] and d["name"] == c.name


@pytest.mark.slow
def test_gpu_job_path_trains_saves_and_generates_on_cpu(tokenizer, tmp_path, monkeypatch):
    """The container's paper-suite job (train with the paper's schedule -> save -> generate) on a tiny
    random Gemma in a local folder, with the hf generator and fp32 (the GPU run uses vLLM and bf16)."""
    import json

    from harness.lossfile import load_loss
    from harness.session import InProcessSession

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "tiny-gemma"
    tiny_model("gemma", len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    suite = PaperSuite(MT_BENCH).with_overrides({
        "model.policy": str(folder), "model.dtype": "float32", "generator": "hf", "train.bf16": False,
        "train.gradient_checkpointing": False, "train.per_device_batch": 2, "train.effective_batch": 2,
        "train.epochs": 1, "generation.max_new_tokens": 6, "generation.batch_size": 4})
    art = suite.build(local=LOCAL["mt-bench"], device="cpu")
    with InProcessSession(load_loss("losses/dpo.py")) as session:
        result = suite.train_and_generate(art, session, seed=0, out_dir=tmp_path / "out", device="cpu")
    assert result["train"]["steps"] == 2 and result["generation"]["backend"] == "hf"
    assert (tmp_path / "out" / "policy" / "config.json").is_file()
    rows = [json.loads(x) for x in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["answers"]) == 1 and len(r["second_turn_answers"]) == 1 for r in rows)


def test_paper_suites_refuse_a_cpu_host_clearly():
    if torch.cuda.is_available():
        pytest.skip("this host has a GPU: build would download the paper's model")
    with pytest.raises(RuntimeError, match="needs a CUDA GPU host"):
        PaperSuite(MT_BENCH).build()
    with pytest.raises(RuntimeError, match="no judge"):
        PaperSuite(IMDB).run_seeds(None, None, [0], 0.05)


@pytest.mark.slow
def test_imdb_job_gives_a_reward_kl_point_on_cpu(tokenizer, tmp_path, monkeypatch):
    import json

    from transformers import RobertaConfig, RobertaForSequenceClassification

    from harness.lossfile import load_loss
    from harness.session import InProcessSession

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    policy, clf = tmp_path / "tiny-gpt2", tmp_path / "tiny-clf"
    tiny_model("gpt2", len(tokenizer)).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=160, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
        pad_token_id=tokenizer.pad_token_id)).save_pretrained(clf)
    tokenizer.save_pretrained(clf)
    suite = PaperSuite(IMDB).with_overrides({
        "model.policy": str(policy), "reward.classifier": str(clf), "train.per_device_batch": 2,
        "train.effective_batch": 2, "train.epochs": 1, "generation.max_new_tokens": 6,
        "generation.samples_per_prompt": 2, "generation.batch_size": 4})
    art = suite.build(local=LOCAL["imdb"], device="cpu")
    with InProcessSession(load_loss("losses/dpo.py")) as session:
        result = suite.train_and_generate(art, session, seed=0, beta=0.1, out_dir=tmp_path / "out", device="cpu")
    point = result["frontier_point"]
    assert point["beta"] == 0.1 and 0 < point["reward"] < 1 and np.isfinite(point["kl"])
    rows = [json.loads(x) for x in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["token_ids"]) == 2 for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alpaca-eval", "mt-bench"])
def test_bench_path_trains_generates_and_judges_every_seed(name, tokenizer, tmp_path, monkeypatch, scripted_proxy):
    """`harness bench` on a paper suite: per seed the job (train -> generate), then the suite's LLM judge
    on the answers (a scripted endpoint: a judge that always answers the same is a tie everywhere).
    The judge reads the user's request, never the chat-template string the model was prompted with."""
    from dataclasses import replace

    from harness.judges.llm import LLMJudge
    from harness.judges.spec import load_spec
    from harness.lossfile import load_loss
    from harness.session import InProcessSession
    from harness.stats.intervals import no_spread_interval

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    folder = tmp_path / "tiny-gemma"
    tiny_model("gemma", len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config = {"alpaca-eval": ALPACA_EVAL, "mt-bench": MT_BENCH}[name]
    suite = PaperSuite(config).with_overrides({
        "model.policy": str(folder), "model.dtype": "float32", "generator": "hf", "train.bf16": False,
        "train.gradient_checkpointing": False, "train.per_device_batch": 2, "train.effective_batch": 2,
        "train.epochs": 1, "generation.max_new_tokens": 6, "generation.batch_size": 4})
    art = suite.build(local=LOCAL[name], device="cpu")
    proxy = scripted_proxy(default="[[6]]" if config.judge == "single-grade" else "A")
    judge = LLMJudge(replace(load_spec(config.judge), max_concurrency=1), base_url=proxy.base_url)
    with InProcessSession(load_loss("losses/dpo.py")) as session:
        result = suite.run_seeds(art, session, [0, 1], suite.config.beta, judge=judge, device="cpu")
    per_seed, metrics, timings = result.per_seed, result.metrics, result.timings
    assert len(per_seed) == 2 and result.judge["id"] == config.judge
    assert all(isinstance(s["judge_report"]["warnings"], list | tuple) for s in per_seed)  # kept in the record (frozen)
    tables = result.outcomes["tables"]
    # all ties: no zero-width interval, the no-spread bound over the prompts
    assert metrics["win_rate"] == 0.5 and tuple(metrics["win_rate_ci"]) == pytest.approx(
        no_spread_interval(0.5, len(tables["verdict"][0]), (0.0, 1.0)))
    assert result.outcomes["primary"] == "verdict" and result.outcomes["seed_status"] == ("measured", "measured")
    assert len(tables["verdict"]) == 2 and all(v == 0.5 for row in tables["verdict"] for v in row)
    assert timings["train"] > 0 and timings["generate"] > 0
    asked = [b["messages"][-1]["content"] for b in proxy.bodies]
    assert asked and not any("<|im_start|>" in text for text in asked)
    # the record keeps the answers behind the numbers, with the LLM judge's words (harness.transcript)
    shown = result.answers
    assert shown["judge"] == {"id": config.judge, "kind": "llm"} and len(shown["prompts"]) == len(art.eval_rows)
    assert [s["seed"] for s in shown["seeds"]] == [0, 1] and all(s["reasoning"][0] for s in shown["seeds"])
    if name == "mt-bench":
        assert metrics["mt_bench_score"] == 6.0
        assert per_seed[0]["n_compared"] == 2  # the math question's two turns have reference answers
        assert any("Now divide that by 3." in text and "[Follow-up question]" in text for text in asked)
    else:
        assert any(row["instruction"] in text for row in art.eval_rows for text in asked)
