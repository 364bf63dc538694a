"""The smol suite: the ifeval judge, its prompts, registration, and the whole pipeline on a tiny
random Llama with SmolLM2's tokenizer (the real model's run is benchmarks/speed/bench_smol.py)."""

from __future__ import annotations

import pytest

from harness.judges import JUDGES, Comparison, ifeval
from harness.judges.ifeval import Instruction, parse_instructions
from harness.suites import SUITES
from harness.suites.smol import SMOL_KINDS, SmolSuite
from harness.suites.smol.prompts import make_prompts, split_tasks


@pytest.mark.parametrize("kind,arg,good,bad", [
    ("max_words", "5", "Four words right here.", "This answer has far more than five words in it."),
    ("min_words", "6", "one two three four five six", "too short"),
    ("keyword", "river", "The River runs.", "The riverbank is wide."),  # whole word only
    ("lowercase", "", "all lower here.", "Not all lower."),
    ("uppercase", "", "ALL CAPS, 2 TIMES!", "ALL CAPS but one"),
    ("no_comma", "", "No commas here.", "Yes, a comma."),
    ("start_word", "Yes", "Yes! It works.", "Well, yes."),
    ("bullets", "2", "* one\n* two", "* one\n* two\n* three"),
])
def test_each_instruction_is_checked_by_code(kind, arg, good, bad):
    ins = Instruction(kind, arg)
    assert parse_instructions(f"Do a task. {ins.text()}") == [ins]
    assert ins.followed(good) and not ins.followed(bad)


def test_empty_answers_follow_nothing():
    for kind in ("max_words", "lowercase", "no_comma"):
        assert not Instruction(kind, "10").followed("   ")


def test_score_is_the_fraction_followed_and_a_prompt_needs_an_instruction():
    p = "Describe the sea. Answer in at most 5 words. Include the word 'blue' in your answer."
    assert ifeval.score(p, "The sea is blue.") == 1.0
    assert ifeval.score(p, "The sea is very wide and deep today.") == 0.0
    assert ifeval.score(p, "Blue and wide and deep and cold, really.") == 0.5
    with pytest.raises(ValueError, match="no verifiable instruction"):
        ifeval.score("Describe the sea.", "x")


def test_judge_prefers_the_higher_score_and_ties_half():
    judge = JUDGES.get("ifeval")()
    p = "Explain rain. Do not use any commas."
    got = judge.judge([Comparison(p, "Rain falls.", "Rain, water."), Comparison(p, "a, b", "c"),
                       Comparison(p, "Rain falls.", "Water falls.")])
    assert [j.preference for j in got] == [1.0, 0.0, 0.5]
    assert judge.id == "ifeval" and len(judge.hash) == 16 and judge.hash == JUDGES.get("ifeval")().hash


def test_prompts_are_distinct_checkable_and_split_by_task():
    train, evals = split_tasks(2024)
    assert not set(train) & set(evals)
    prompts = make_prompts(evals, 40, seed=3, kinds=SMOL_KINDS, max_instructions=2)
    assert len(set(prompts)) == 40
    for p in prompts:
        kinds = [i.kind for i in parse_instructions(p)]
        assert 1 <= len(kinds) <= 2 and set(kinds) <= set(SMOL_KINDS)
        assert not {"max_words", "min_words"} <= set(kinds)
        assert any(p.startswith(t) for t in evals)
    assert prompts == make_prompts(evals, 40, seed=3, kinds=SMOL_KINDS, max_instructions=2)


def test_smol_is_registered_and_described():
    suite = SUITES.get("smol")
    d = suite.describe()
    assert d["name"] == "smol" and "CPU" in d["hardware"] and "min" in d["expected_time"]
    assert suite.config.generator == "hf" and suite.config.judge == "ifeval"
    changed = suite.with_overrides({"train.learning_rate": 2e-5})
    assert changed.config_hash() != suite.config_hash() and changed.build_hash() == suite.build_hash()
    with pytest.raises(KeyError, match="unknown config field"):
        suite.with_overrides({"train.lr": 1})
    for name in ("mt-bench", "alpaca-eval", "tldr", "imdb"):
        assert SUITES.get(name).describe()["hardware"]


@pytest.fixture
def tiny_smol(tmp_path, monkeypatch):
    """SmolLM2's tokenizer + a tiny random Llama in a folder that stands in for the converted model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.suites.smol import smollm2

    try:
        tok = smollm2.load_tokenizer()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"needs SmolLM2's tokenizer: {e}")
    folder = tmp_path / "tiny-model"
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    monkeypatch.setattr(smollm2, "ensure_converted", lambda **kw: folder)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return SmolSuite().with_overrides({
        "data.train_prompts": 24, "data.eval_prompts": 6, "pair_generation.max_new_tokens": 32,
        "pair_generation.batch_size": 24, "eval_generation.max_new_tokens": 16, "train.steps": 2,
        "train.batch_size": 2, "train.warmup_steps": 0})


@pytest.mark.slow
def test_pipeline_builds_pairs_trains_generates_and_judges(tiny_smol):
    from harness.lossfile import load_loss
    from harness.session import InProcessSession
    from harness.suites.logprobs import sequence_logps

    art = tiny_smol.build(progress=False)
    ds = art.train_dataset
    assert len(ds) >= 1 and art.stats["pairs"]["pairs"] == len(ds)
    for pair in art.pairs:
        assert pair["chosen_score"] > pair["rejected_score"]  # labelled by the judge, ties dropped
    from harness.suites.smol import smollm2

    model = smollm2.load_model(art.model_folder)
    again = sequence_logps(model, [ds[0]["prompt_ids"]], [ds[0]["chosen_ids"]], pad_id=2).tolist()
    assert again[0] == pytest.approx(ds[0]["ref_chosen_logps"], rel=1e-4)

    with InProcessSession(load_loss("losses/dpo.py")) as session:
        result = tiny_smol.run_seeds(art, session, [0], 0.1, progress=False)
    per_seed, metrics, judge, timings = result.per_seed, result.metrics, result.judge, result.timings
    assert len(result.outcomes["tables"]["verdict"][0]) == len(art.eval_rows)  # one score per eval prompt
    lo, hi = metrics["win_rate_ci"]
    assert lo <= metrics["win_rate"] <= hi and 0 <= lo and hi <= 1
    assert metrics["generation"]["backend"] == "hf"  # the backend is recorded
    assert judge["id"] == "ifeval" and set(timings) >= {"train", "generate", "judge", "train_step"}
    assert per_seed[0]["wins"] + per_seed[0]["ties"] + per_seed[0]["losses"] == 6 * 2  # 2 samples per prompt


@pytest.mark.slow
def test_harness_bench_runs_the_smol_suite_and_writes_a_valid_record(tiny_smol, tmp_path):
    from harness.bench import bench_and_store
    from harness.records import read_record

    overrides = {"data.train_prompts": 24, "data.eval_prompts": 6, "pair_generation.max_new_tokens": 32,
                 "pair_generation.batch_size": 24, "eval_generation.max_new_tokens": 16, "train.steps": 2,
                 "train.batch_size": 2, "train.warmup_steps": 0}
    run = bench_and_store("losses/dpo.py", suite="smol", seeds=1, backend="none", trust=True, progress=False,
                          out_dir=tmp_path / "runs", overrides=overrides)
    record = run.record
    assert record["status"] == "ok", record["error"]
    assert record["suite"]["name"] == "smol" and record["judge"]["id"] == "ifeval"
    assert record["metrics"]["generation"]["backend"] == "hf"
    assert read_record(run.path)["metrics"]["win_rate"] == record["metrics"]["win_rate"]


def test_aggregate_pools_seeds_and_tolerates_judges_without_scores():
    from harness.stats.crossed import win_rate_ci
    from harness.suites.smol.run import aggregate

    def seed(wins, score):
        return {"per_prompt_win": wins, "instruction_score": score, "reference_instruction_score": 0.3,
                "generation": {"backend": "hf"}, "judge": {"id": "j", "hash": "h"}, "timings": {"train": 1.0}}

    result = aggregate([seed([1.0, 1.0, 0.5, 1.0], 0.6), seed([1.0, 0.5, 1.0, 1.0], 0.5)], 0.95, list("abcd"))
    m = result.metrics
    assert m["win_rate"] == pytest.approx(0.875) and m["win_rate_ci"][0] > 0.5 and m["beats_reference"]
    assert m["instruction_score"] == pytest.approx(0.55) and result.timings["train"] == 2.0
    est = win_rate_ci([[1.0, 1.0, 0.5, 1.0], [1.0, 0.5, 1.0, 1.0]])  # the CI its printed SEM comes from
    assert tuple(m["win_rate_ci"]) == (est.low, est.high) and m["win_rate_sem"] == est.sem
    assert result.judge["id"] == "j"
    assert result.outcomes["tables"]["verdict"] == ((1.0, 1.0, 0.5, 1.0), (1.0, 0.5, 1.0, 1.0))
    assert "reference" not in result.outcomes["tables"]  # smol does not score the untrained model
    m = aggregate([seed([0.0, 1.0], None)], 0.95, ["a", "b"]).metrics
    assert m["instruction_score"] is None and not m["beats_reference"]
