"""The LLM judge's protocol and bookkeeping against a scripted local endpoint (fast tier, no model).

Both orders, order disagreement and position bias, the retry of unparseable output, the cache
(second run free), budget stop and resume, the CLI's JSON and exit codes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.judges.base import Comparison
from harness.judges.cache import JudgmentCache
from harness.judges.llm import JudgeIncompleteError, LLMJudge
from harness.judges.spec import load_spec

COMPARISONS = [
    Comparison("Capital of France?", "Paris.", "Lyon.", group="q1"),
    Comparison("2+2?", "4", "5", group="q2", category="math"),
    Comparison("A primary colour?", "Red.", "Banana.", group="q3"),
]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fast-tier-KEY-123456")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path


def serial(name="pairwise-weighted", **changes):
    """The built-in judge run one call at a time, so that a script meets calls in a known order."""
    return replace(load_spec(name), max_concurrency=1, **changes)


def user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


def sure(label: str) -> dict:
    """A log-probs endpoint's reply: ``label``, with all of the first token's mass on it."""
    return {"content": label, "top_logprobs": [[label, 0.0]]}


def test_both_orders_are_asked_and_a_position_bias_is_a_tie(env, scripted_proxy):
    proxy = scripted_proxy(default="A")  # a judge that always prefers position A
    run = LLMJudge(serial(), base_url=proxy.base_url).run(COMPARISONS)
    assert proxy.requests == 6 and run.usage["api_calls"] == 6
    for c in COMPARISONS:
        shown = [user_text(b) for b in proxy.bodies if c.prompt in user_text(b)]
        positions = sorted(text.index(c.output) < text.index(c.reference) for text in shown)
        assert positions == [False, True]  # once as A, once as B
    for j in run.judgments:
        assert j.preference == 0.5 and j.details["order_disagreement"] and j.details["same_position"]
        assert j.details["orders"] == {"policy_first": 1.0, "policy_second": 0.0}
        assert j.details["sources"] == ["text", "text"]  # no log-probs from this endpoint
    assert run.diagnostics["position_bias_rate"] == 1.0 and run.diagnostics["n_order_disagreements"] == 3
    assert run.diagnostics["position_a_preference"] == 1.0


def test_consistent_verdicts_give_a_clear_preference(env, scripted_proxy):
    proxy = scripted_proxy(script=["A", "B", "B", "A"], default="A")
    judgments = LLMJudge(serial(), base_url=proxy.base_url).run(COMPARISONS[:2]).judgments
    assert [j.preference for j in judgments] == [1.0, 0.0]
    assert not any(j.details["order_disagreement"] for j in judgments)
    assert [j.details["discrete"] for j in judgments] == [1.0, 0.0]


def test_unparseable_is_retried_once_then_counted_and_asked_again_next_run(env, scripted_proxy):
    proxy = scripted_proxy(script=["lorem", "[[A]]"], default="ipsum dolor")
    judge = LLMJudge(serial("pairwise-verdict"), base_url=proxy.base_url)
    run = judge.run(COMPARISONS[:2])
    # call 1: garbage then "A" on the retry; calls 2-4: garbage twice each
    assert proxy.requests == 2 + 3 * 2 and run.n_unparseable_calls == 3
    assert proxy.bodies[0]["temperature"] == 0.0 and proxy.bodies[1]["temperature"] == 0.7
    first, second = run.judgments
    assert first.preference == 1.0 and first.details["status"] == "one_order" and first.details["attempts"] == [2, 2]
    assert math.isnan(second.preference) and second.details["status"] == "unparseable"
    again = LLMJudge(serial("pairwise-verdict"), base_url=proxy.base_url).run(COMPARISONS[:2])
    # the verdict is served from the cache; the unparseable calls are asked again (twice each)
    assert again.n_cached == 1 and again.usage["api_calls"] == 6 and again.n_unparseable_calls == 3
    with pytest.raises(JudgeIncompleteError, match=r"1 of 2 comparisons got no verdict \(1 unparseable"):
        LLMJudge(serial("pairwise-verdict"), base_url=proxy.base_url).judge(COMPARISONS[:2])  # never a NaN


def test_second_run_is_free_and_needs_no_key(env, scripted_proxy, monkeypatch):
    proxy = scripted_proxy(default=sure("B"))
    first = LLMJudge(serial(), base_url=proxy.base_url).run(COMPARISONS)
    monkeypatch.delenv("OPENAI_API_KEY")
    second = LLMJudge(serial(), base_url=proxy.base_url).run(COMPARISONS)
    assert second.usage["api_calls"] == 0 and second.n_cached == second.n_calls == 6 and proxy.requests == 6
    assert [j.preference for j in second.judgments] == [j.preference for j in first.judgments]
    assert [j.preference for j in LLMJudge(serial(), base_url=proxy.base_url).judge(COMPARISONS)] == [0.5, 0.5, 0.5]
    with pytest.raises(Exception, match="OPENAI_API_KEY is not set"):  # another endpoint: nothing cached for it
        LLMJudge(serial()).run(COMPARISONS)
    other_model = LLMJudge(serial(), base_url=proxy.base_url, model="another-judge-model")
    assert other_model.hash != LLMJudge(serial()).hash  # a different model is a different judge
    fresh = other_model.run(COMPARISONS)  # a server on 127.0.0.1 needs no key: asked anew, not served from the cache
    assert fresh.n_cached == 0 and fresh.usage["api_calls"] == 6 and proxy.requests == 12


def test_budget_stops_cleanly_and_a_rerun_resumes_without_duplicates(env, scripted_proxy):
    proxy = scripted_proxy(default=sure("A"))  # 13 tokens per answer
    judge = LLMJudge(serial(), base_url=proxy.base_url, budget_tokens=40)
    with pytest.raises(JudgeIncompleteError, match="BudgetExceeded"):
        judge.judge(COMPARISONS)
    assert proxy.requests == 4
    with JudgmentCache() as cache:
        assert cache.count(judge.hash) == 4
    resumed = LLMJudge(serial(), base_url=proxy.base_url).run(COMPARISONS)
    assert resumed.stopped is None and resumed.n_cached == 4 and resumed.usage["api_calls"] == 2
    assert proxy.requests == 6 and all(j is not None for j in resumed.judgments)
    with JudgmentCache() as cache:
        assert cache.count(judge.hash) == 6


def test_single_answer_grades_reference_guided_and_deduplicated(env, scripted_proxy):
    proxy = scripted_proxy(script=["[[9]]", "[[4]]"], default="Fine. [[6]]")
    same_reference = [*COMPARISONS, Comparison("2+2?", "four", "5", group="q2b", category="math")]
    run = LLMJudge(serial("single-grade"), base_url=proxy.base_url).run(same_reference)
    assert proxy.requests == 7  # the reference "5" to "2+2?" is graded once for two comparisons
    assert run.judgments[0].preference == 1.0 and run.judgments[0].details["grades"] == {"output": 9.0, "reference": 4.0}
    assert [j.preference for j in run.judgments[1:]] == [0.5, 0.5, 0.5]
    guided = [user_text(b) for b in proxy.bodies if "Reference solution" in user_text(b)]
    assert len(guided) == 3 and all("2+2?" in text for text in guided)


# -- the CLI -----------------------------------------------------------------------------------------
def write_answers(folder, rows, name):
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def answer_files(env):
    outputs = write_answers(env, [{"prompt": c.prompt, "output": c.output, "category": c.category}
                                  for c in COMPARISONS], "outputs.jsonl")
    references = write_answers(env, [{"prompt": c.prompt, "output": c.reference} for c in COMPARISONS],
                               "references.jsonl")
    return ["--outputs", str(outputs), "--references", str(references)]


def test_cli_json_is_exactly_one_object_and_reruns_are_free(answer_files, scripted_proxy, env):
    proxy = scripted_proxy(default=sure("A"))
    args = ["judge", *answer_files, "--base-url", proxy.base_url, "--model", "m", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("win_rate", "win_rate_ci", "lc_win_rate", "n_total", "n_ties", "api_calls"):
        assert key in report
    assert (report["n_total"], report["n_ties"], report["api_calls"], report["judge"]) == (3, 3, 6, "pairwise-weighted")
    assert report["cost_usd"] is None  # the settings' prices are for another model than "m"
    home = env / "home"
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert stored and b"KEY-123456" not in stored and "KEY-123456" not in result.stdout  # the key stays in the env
    again = json.loads(CliRunner().invoke(main, args).stdout)
    assert again["api_calls"] == 0 and again["win_rate"] == report["win_rate"]
    notes = env / "annotations.jsonl"
    CliRunner().invoke(main, [*args, "--annotations", str(notes)])
    lines = [json.loads(line) for line in notes.read_text().splitlines()]
    assert [n["preference"] for n in lines] == [0.5, 0.5, 0.5] and lines[0]["details"]["order_disagreement"]
    table = CliRunner().invoke(main, args[:-1])
    assert table.exit_code == 0 and "LC win rate %" in table.stdout and "position bias %" in table.stdout


def test_cli_exit_codes(answer_files, scripted_proxy, env):
    refused = CliRunner().invoke(main, ["judge", *answer_files, "--base-url", scripted_proxy(default=401).base_url])
    assert refused.exit_code == 2 and "HTTP 401" in refused.stderr and "KEY-123456" not in refused.stderr
    garbage = CliRunner().invoke(main, ["judge", *answer_files, "--base-url", scripted_proxy(default="?").base_url])
    assert garbage.exit_code == 1 and "unparseable" in garbage.stderr
    budget = CliRunner().invoke(main, ["judge", *answer_files, "--judge", "pairwise-verdict", "--json",
                                       "--budget-tokens", "20", "--base-url", scripted_proxy(default="[[A]]").base_url])
    assert budget.exit_code == 2 and "Re-run the same command to resume" in budget.stderr
    assert json.loads(budget.stdout)["n_not_judged"] > 0
    no_prices = CliRunner().invoke(main, ["judge", *answer_files, "--model", "m", "--budget-usd", "1"])
    assert no_prices.exit_code == 2 and "needs the prices of model 'm'" in no_prices.stderr
    priced = CliRunner().invoke(main, ["judge", *answer_files, "--model", "m2", "--budget-usd", "1", "--json",
                                       "--price-input-per-mtok", "1000", "--price-output-per-mtok", "1000",
                                       "--base-url", scripted_proxy(default="A").base_url])
    assert priced.exit_code == 0 and json.loads(priced.stdout)["cost_usd"] == pytest.approx(6 * 13 * 1e-3)
    bad = write_answers(env, [{"prompt": "unknown", "output": "x"}], "bad.jsonl")
    mismatch = CliRunner().invoke(main, ["judge", "--outputs", str(bad), "--references", answer_files[3]])
    assert mismatch.exit_code == 2 and "no reference" in mismatch.stderr


def rows(path) -> int:
    if not path.exists():
        return 0
    with JudgmentCache(path) as store:
        return store.count()


def test_a_run_killed_halfway_resumes_without_losing_or_duplicating(answer_files, scripted_proxy, env):
    proxy = scripted_proxy(default=sure("A"), delay_s=0.3)
    cache = env / "killed.sqlite"
    args = [sys.executable, "-m", "harness.cli", "judge", *answer_files, "--base-url", proxy.base_url,
            "--cache", str(cache), "--json"]
    child = subprocess.Popen(args, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and rows(cache) < 2:
            time.sleep(0.05)
        child.kill()  # SIGKILL: no clean-up code runs
    finally:
        child.wait(timeout=30)
    kept = rows(cache)
    assert 2 <= kept < 6
    sent_before = proxy.requests
    result = CliRunner().invoke(main, ["judge", *answer_files, "--base-url", proxy.base_url, "--cache", str(cache),
                                       "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["n_cached"] == kept and report["api_calls"] == 6 - kept
    assert report["n_judged"] == 3 and proxy.requests == sent_before + 6 - kept
    assert rows(cache) == 6


def test_endpoint_from_the_judge_settings_beats_the_environment(env, scripted_proxy, monkeypatch):
    proxy = scripted_proxy(default="A")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("MY_JUDGE_KEY", "k")
    spec = serial(base_url=proxy.base_url, api_key_env="MY_JUDGE_KEY")
    assert spec.hash == serial().hash  # where a model is served does not change the judge
    run = LLMJudge(spec).run(COMPARISONS[:1])
    assert run.stopped is None and proxy.requests == 2
