"""The LLM judge against the real local llama.cpp server (api tier).

SmolLM2-135M's verdicts are small-model quality: these tests assert the protocol (both orders,
log-prob preferences, constrained JSON), the bookkeeping (cache, accounting, resume after the server
dies, retries behind a 429 proxy, unparseable output counted) and the error paths, not wisdom.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.judges.base import Comparison
from harness.judges.cache import JudgmentCache
from harness.judges.llm import LLMJudge
from harness.judges.spec import CONFIGS_DIR, load_spec

pytestmark = pytest.mark.api

COMPARISONS = [
    Comparison("What is the capital of France?", "The capital of France is Paris.", "Lyon.", group="q1"),
    Comparison("What is 2+2?", "2+2 equals 4.", "5", group="q2", category="math"),
    Comparison("Name a primary colour.", "Red is a primary colour.", "Banana.", group="q3"),
]


def weighted(**changes):
    return replace(load_spec("pairwise-weighted"), **changes)


def test_weighted_judge_both_orders_logprobs_accounting_and_cache(llm_env):
    judge = LLMJudge(weighted(), model=llm_env.model)
    run = judge.run(COMPARISONS)
    assert run.stopped is None and run.usage["api_calls"] == 6 and run.usage["retries"] == 0
    assert run.usage["completion_tokens"] == 6  # max_tokens 1 per call
    assert run.usage["prompt_tokens"] > 6 * 50
    for j in run.judgments:
        assert 0.0 <= j.preference <= 1.0
        assert j.details["sources"] == ["logprobs", "logprobs"]
        orders = j.details["orders"]
        assert j.preference == pytest.approx((orders["policy_first"] + orders["policy_second"]) / 2)
    assert 0.0 <= run.diagnostics["position_bias_rate"] <= 1.0 and run.diagnostics["n_both_orders"] == 3
    again = LLMJudge(weighted(), model=llm_env.model).run(COMPARISONS)
    assert again.usage["api_calls"] == 0 and again.n_cached == 6
    assert [j.preference for j in again.judgments] == [j.preference for j in run.judgments]


def test_cli_json_against_the_server(llm_env, tmp_path):
    outputs, references = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    outputs.write_text("".join(json.dumps({"prompt": c.prompt, "output": c.output}) + "\n" for c in COMPARISONS))
    references.write_text("".join(json.dumps({"prompt": c.prompt, "output": c.reference}) + "\n" for c in COMPARISONS))
    args = ["judge", "--outputs", str(outputs), "--references", str(references), "--model", llm_env.model, "--json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["n_total"] == 3 and report["api_calls"] == 6 and 0 <= report["win_rate"] <= 1
    # three prompts are too few for an interval: none is given, and the report says why
    assert report["win_rate_ci"] is None and any("win-rate CI not computed" in w for w in report["warnings"])
    assert report["lc_win_rate"] is None and any("LC win rate not computed" in w for w in report["warnings"])
    assert json.loads(CliRunner().invoke(main, args).stdout)["api_calls"] == 0


def test_single_grade_with_schema_constrained_json(llm_env, tmp_path):
    # a custom judge is a folder: the built-in grader, asked for JSON under a schema (llama.cpp's
    # response_format), which a 135M model can follow
    folder = tmp_path / "grade-json"
    shutil.copytree(CONFIGS_DIR / "single-grade", folder)
    settings = json.loads((folder / "settings.json").read_text())
    settings.update(parser="json", json_field="rating", max_tokens=12, response_format={
        "type": "json_object",
        "schema": {"type": "object", "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 10}},
                   "required": ["rating"]}})
    (folder / "settings.json").write_text(json.dumps(settings))
    run = LLMJudge(folder, model=llm_env.model).run(COMPARISONS)
    assert run.stopped is None and run.n_calls == 6
    parsed = [j for j in run.judgments if j.details["status"] == "ok"]
    assert parsed, "constrained JSON output should parse"
    for j in parsed:
        assert set(j.details["grades"]) == {"output", "reference"} and j.preference in (0.0, 0.5, 1.0)
    assert run.usage["api_calls"] == 6 + run.n_unparseable_calls  # one retry per unparseable call


def test_free_text_verdicts_that_do_not_parse_are_retried_and_counted(llm_env):
    judge = LLMJudge(replace(load_spec("pairwise-verdict"), max_tokens=6), model=llm_env.model)
    run = judge.run(COMPARISONS[:2])
    n_bad = run.n_unparseable_calls
    assert run.usage["api_calls"] == 4 + n_bad  # one retry for each unparseable call
    statuses = [j.details["status"] for j in run.judgments]
    assert sum(s == "unparseable" for s in statuses) * 2 <= n_bad


def test_retries_behind_a_429_proxy(llm_server, llm_env, scripted_proxy):
    proxy = scripted_proxy(script=[429, 429], upstream=llm_server.base_url)
    run = LLMJudge(weighted(max_concurrency=1), base_url=proxy.base_url, model=llm_env.model).run(COMPARISONS[:1])
    assert run.stopped is None and run.usage["retries"] == 2 and run.usage["api_calls"] == 4
    assert proxy.requests == 4 and run.judgments[0].details["sources"] == ["logprobs", "logprobs"]


def test_wrong_api_key_is_a_clear_error(llm_server_factory, monkeypatch, tmp_path):
    server = llm_server_factory(api_key="the-right-key-42")
    monkeypatch.setenv("OPENAI_API_KEY", "a-wrong-key-77")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    (tmp_path / "a.jsonl").write_text(json.dumps({"prompt": "p", "output": "o"}) + "\n")
    result = CliRunner().invoke(main, ["judge", "--outputs", str(tmp_path / "a.jsonl"), "--references",
                                       str(tmp_path / "a.jsonl"), "--base-url", server.base_url, "--model", "m"])
    assert result.exit_code == 2 and "HTTP 401" in result.stderr and "OPENAI_API_KEY" in result.stderr
    assert "a-wrong-key-77" not in result.stderr + result.stdout


def test_server_killed_mid_run_then_resume_loses_and_duplicates_nothing(llm_server_factory, llm_env, tmp_path):
    prompts = [Comparison(f"Say the number {i}.", f"{i}", f"The number is {i + 1}.", group=str(i)) for i in range(3)]
    spec = weighted(max_concurrency=1)
    cache_path = tmp_path / "resume.sqlite"
    server = llm_server_factory()
    judge = LLMJudge(spec, base_url=server.base_url, model=llm_env.model, cache_path=cache_path, max_retries=1)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(run=judge.run(prompts)))
    worker.start()
    with JudgmentCache(cache_path) as cache:
        deadline = time.monotonic() + 120
        while cache.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    server.kill()
    worker.join(timeout=120)
    first = outcome["run"]
    assert first.stopped and "LLMUnavailableError" in first.stopped
    with JudgmentCache(cache_path) as cache:
        kept = cache.count()
        before = cache.get_many([c.key for pair in map(judge._pairwise_calls, prompts) for c in pair])
    assert 2 <= kept < 6 and sum(j is None for j in first.judgments) >= 1

    restarted = llm_server_factory(port=server.port)  # the same endpoint: its verdicts are this server's
    resumed = LLMJudge(spec, base_url=restarted.base_url, model=llm_env.model, cache_path=cache_path).run(prompts)
    assert resumed.stopped is None and resumed.n_cached == kept
    assert resumed.usage["completions"] == 6 - kept  # only the missing calls were asked
    assert all(j is not None and j.details["status"] == "ok" for j in resumed.judgments)
    with JudgmentCache(cache_path) as cache:
        assert cache.count() == 6  # one row per call: nothing lost, nothing duplicated
        after = cache.get_many(list(before))
    assert after == before  # judgments made before the crash are kept as they were
