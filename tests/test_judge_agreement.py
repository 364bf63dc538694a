"""benchmarks/validation/bench_judge_agreement.py: the labelled set is what the code scorer says and the same
every time; the metrics read a scripted judge's known position and length habits back (fast tier: the
judge is tests/llm_server.py's scripted endpoint, no model)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from harness.judges.ifeval import score

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "validation" / "bench_judge_agreement.py"
SHOWN = re.compile(r"# Instruction\n(.*)\n\n# Answer A\n(.*)\n\n# Answer B\n(.*)\n\n", re.DOTALL)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_judge_agreement", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def items(bench):
    return bench.build_items(per_direction=8, equal=6, seed=3)


def test_gold_is_the_code_scorers_better_answer_in_both_length_directions(bench, items):
    kinds = [i["kind"] for i in items]
    assert kinds.count("gold_longer") == kinds.count("gold_shorter") == 8 and kinds.count("equal") == 6
    for item in items:
        out, ref = score(item["prompt"], item["output"]), score(item["prompt"], item["reference"])
        assert [out, ref] == item["scores"]
        words = [len(item["output"].split()), len(item["reference"].split())]
        assert max(words) >= bench.LENGTH_RATIO * min(words)
        if item["kind"] == "equal":
            assert out == ref == 1.0 and item["gold"] == "tie"
            continue
        gold, other = (0, 1) if item["gold"] == "output" else (1, 0)
        assert item["scores"][gold] == 1.0 > item["scores"][other]
        assert (words[gold] > words[other]) == (item["kind"] == "gold_longer")
    assert {i["gold"] for i in items} == {"output", "reference", "tie"}  # the coin put gold on both sides


def test_the_set_is_deterministic_and_the_committed_one_is_reproduced(bench, items):
    assert bench.build_items(per_direction=8, equal=6, seed=3) == items
    assert bench.build_items(per_direction=8, equal=6, seed=4) != items
    committed = bench.OUT / "items.jsonl"
    if committed.is_file():
        rows = [json.loads(line) for line in committed.read_text().splitlines()]
        kinds = [r["kind"] for r in rows]
        result = json.loads((bench.OUT / "pairwise-weighted.json").read_text())
        assert rows == bench.build_items(kinds.count("gold_longer"), kinds.count("equal"), result["seed"])
        assert result["items_sha256"] == bench.items_sha256(rows)


def _shown(body: dict) -> tuple[str, str, str]:
    """(prompt, answer A, answer B) of a pairwise judge call."""
    return SHOWN.search(body["messages"][-1]["content"]).groups()


@pytest.fixture
def judged(bench, items, scripted_proxy, tmp_path, monkeypatch):
    """``judged(judge, action)``: the benchmark's figures for ``judge`` at an endpoint playing ``action``."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))

    def run(judge: str, action) -> dict:
        proxy = scripted_proxy(default=action)
        return bench.run_judge(judge, items, base_url=proxy.base_url, model=None, cache=tmp_path / f"{judge}.sqlite")

    return run


def test_a_judge_that_always_picks_position_a_is_all_position_bias(judged, items):
    r = judged("pairwise-verdict", "[[A]]")
    assert r["position_flip"]["mean"] == r["same_position"]["mean"] == 1.0
    assert r["agreement"]["mean"] == 0.5  # every combined verdict is a tie (MT-Bench's rule)
    assert r["position_a_preference"] == 1.0 and r["calls"] == 2 * len(items) and r["n_judged"] == len(items)


def test_a_judge_that_picks_the_longer_answer_shows_the_length_split(judged):
    def longer(body):
        _, a, b = _shown(body)
        return "[[A]]" if len(a.split()) > len(b.split()) else "[[B]]"

    r = judged("pairwise-verdict", longer)
    assert r["agreement_gold_longer"]["mean"] == 1.0 and r["agreement_gold_shorter"]["mean"] == 0.0
    assert r["agreement"]["mean"] == 0.5 and r["length_gap"] == 1.0
    assert r["longer_preferred_equal"]["mean"] == 1.0 and r["position_flip"]["mean"] == 0.0
    lo, hi = r["agreement"]["ci"]
    assert lo < 0.5 < hi


def test_a_judge_that_follows_the_code_scorer_agrees_with_gold(judged, items):
    def oracle(body):  # a log-probs endpoint sure of the answer the code scores higher (A when equal)
        prompt, a, b = _shown(body)
        label = "A" if score(prompt, a) >= score(prompt, b) else "B"
        return {"content": label, "top_logprobs": [[label, 0.0]]}

    r = judged("pairwise-weighted", oracle)
    assert r["agreement"]["mean"] == 1.0 and r["position_flip"]["n"] == len(items)
    assert r["agreement_gold_longer"]["mean"] == r["agreement_gold_shorter"]["mean"] == 1.0
    assert r["longer_preferred_equal"]["mean"] == 0.5  # equal answers: A both times, a tie


def test_a_single_answer_grader_has_no_position_figure(judged, items):
    def by_length(body):
        answer = body["messages"][-1]["content"].split("# Answer\n")[1].split("\n\n")[0]
        return f"[[{min(10, len(answer.split()) // 5 + 1)}]]"

    r = judged("single-grade", by_length)
    assert r["position_flip"] is None and "position_a_preference" not in r
    assert r["calls"] == 2 * len(items) and r["longer_preferred_equal"]["mean"] > 0.9
