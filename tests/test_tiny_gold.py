"""The tiny suite's gold judge: exact, deterministic, and not gameable by degenerate text."""

import random

import pytest

from harness.judges import JUDGES, Comparison
from harness.suites.tiny import grammar
from harness.suites.tiny.gold import GoldJudge, score

PROMPT = "we saw it last week . the plot"


def test_mean_not_sum_stacking_adjectives_does_not_pay():
    one = score(PROMPT, "was great . <eos>")
    two = score(PROMPT, "was great and brilliant . <eos>")
    three = score(PROMPT, "was great and brilliant and wonderful . <eos>")
    assert one.reward == two.reward == 1.0
    assert three.reward < two.reward  # a third adjective in a sentence is run-on text


def test_repeats_and_impossible_pairs_are_penalised_gradually():
    clean = score(PROMPT, "was great . <eos>")
    repeated = score(PROMPT, "was great and great . <eos>")
    stacked = score(PROMPT, "was great great . <eos>")  # impossible ADJ ADJ pair + repeat
    assert repeated.violations == 1 and stacked.violations == 2
    assert clean.reward > repeated.reward > stacked.reward


def test_no_adjective_truncation_offtopic_and_long_text():
    assert score(PROMPT, "was . <eos>").reward < score(PROMPT, "was dull . <eos>").reward
    truncated = score(PROMPT, "was great .")
    assert truncated.truncated and truncated.reward < score(PROMPT, "was great . <eos>").reward
    assert score(PROMPT, "was great friday . <eos>").violations >= 1
    many = " ".join(["it was great ."] * 6)
    assert score(PROMPT, f"was good . {many} <eos>").reward < score(PROMPT, "was good . <eos>").reward


def test_negative_reviews_score_below_positive():
    assert score(PROMPT, "was awful . <eos>").reward < score(PROMPT, "was decent . <eos>").reward


def test_grammar_samples_are_fluent():
    rng = random.Random(0)
    for _ in range(300):
        prompt = grammar.sample_prompt(rng)
        s = score(prompt, grammar.sample_completion(prompt, rng))
        assert s.fluent, (prompt, s)


def test_judge_preferences_and_identity():
    judge = JUDGES.get("gold-tiny")()
    out = judge.judge([
        Comparison(PROMPT, "was great . <eos>", "was awful . <eos>"),
        Comparison(PROMPT, "was awful . <eos>", "was great . <eos>"),
        Comparison(PROMPT, "was great . <eos>", "was wonderful . <eos>"),
    ])
    assert [j.preference for j in out] == [1.0, 0.0, 0.5]
    assert judge.hash == GoldJudge().hash and len(judge.hash) == 16


@pytest.mark.parametrize("word", ["great", "dull", "long"])
def test_every_adjective_has_a_class(word):
    assert "ADJ" in grammar.classes_of(word)
