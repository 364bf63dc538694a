"""Judging faults of the second round (issue 32), rebuilt against a scripted local endpoint (fast tier):
the endpoint in the judgment's identity, MT-Bench turns and references, single grades of answers that
exist, token counts without ``usage``, SEMs that match their interval, no zero-width intervals on tiny
samples, graded verdict labels counted as configured."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.judges.base import Comparison
from harness.judges.llm import LLMJudge
from harness.judges.spec import load_spec
from harness.judges.winrate import MIN_CI_PROMPTS, win_rate_report
from harness.llm_client import endpoint_id
from harness.stats.crossed import win_rate_ci
from harness.stats.intervals import bootstrap_ci, cluster_sem
from harness.suites.paper.judging import checked_answers, seed_result


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fast-tier-KEY-123456")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path


def prompts(n: int) -> list[Comparison]:
    return [Comparison(f"Question {i}?", f"POLICY answer {i}.", f"REF answer {i}.", group=f"q{i}") for i in range(n)]


def policy_first(body: dict) -> bool:
    text = body["messages"][-1]["content"]
    return text.index("POLICY") < text.index("REF")


def prefers(who: str):
    """A pairwise judge that always picks the answer of ``who`` ("POLICY" or "REF")."""
    return lambda body: "[[A]]" if policy_first(body) == (who == "POLICY") else "[[B]]"


def write_files(folder, comparisons):
    out, ref = folder / "outputs.jsonl", folder / "references.jsonl"
    out.write_text("".join(json.dumps({"prompt": c.prompt, "output": c.output, "id": c.group}) + "\n"
                           for c in comparisons))
    ref.write_text("".join(json.dumps({"prompt": c.prompt, "output": c.reference}) + "\n" for c in comparisons))
    return ["--outputs", str(out), "--references", str(ref)]


def cli(args, *extra):
    result = CliRunner().invoke(main, ["judge", *args, *extra])
    report = json.loads(result.stdout) if "--json" in extra and result.stdout.strip() else None
    return result, report


# -- fault 1: two servers that answer to the same model name are two judges ----------------------------
def test_a_cache_never_serves_one_servers_verdicts_for_another_with_the_same_model_name(env, scripted_proxy):
    args = write_files(env, prompts(6))
    server_a, server_b = scripted_proxy(default=prefers("POLICY")), scripted_proxy(default=prefers("REF"))
    cache = ["--cache", str(env / "shared.sqlite"), "--model", "x", "--judge", "pairwise-verdict", "--json"]
    result, a = cli(args, "--base-url", server_a.base_url, *cache)
    assert result.exit_code == 0 and a["win_rate"] == 1.0
    result, b = cli(args, "--base-url", server_b.base_url, *cache)
    assert result.exit_code == 0, result.output
    assert b["n_cached"] == 0 and server_b.requests == 12  # nothing of A's served for B
    assert b["win_rate"] == 0.0
    assert (a["endpoint"], b["endpoint"]) == (server_a.base_url, server_b.base_url)
    result, again = cli(args, "--base-url", server_a.base_url, *cache)  # each server's own verdicts stay cached
    assert again["n_cached"] == 12 and again["win_rate"] == 1.0
    table = CliRunner().invoke(main, ["judge", *args, "--base-url", server_b.base_url, *cache[:-1]]).stdout
    assert f"model x at {server_b.base_url}" in table  # the report names the server


def test_the_endpoint_identity_holds_no_credentials_and_ignores_spelling():
    assert endpoint_id("HTTP://user:s3cret@LocalHost:8080/v1/?api_key=zzz#f") == "http://localhost:8080/v1"
    assert endpoint_id("http://127.0.0.1:8000/v1") != endpoint_id("http://127.0.0.1:8001/v1")


# -- faults 2, 3, 4: MT-Bench turns, references and single grades -------------------------------------
MT_ROWS = [{"id": "81", "category": "writing", "turns": ["Write a poem.", "Make it shorter."], "reference": []},
           {"id": "111", "category": "math", "turns": ["What is 3 times 7?", "Divide it by 3."],
            "reference": ["21", "7"]},
           {"id": "90", "category": "roleplay", "turns": ["Name a bakery.", "Why?"], "reference": []},
           {"id": "112", "category": "math", "turns": ["What is 2+2?", "Times 3?"], "reference": ["4", "12"]}]


def mt_answers(second_turns: bool = True) -> list[dict]:
    return [{"id": r["id"], "answers": [f"POLICY first {r['id']}"],
             **({"second_turn_answers": [f"POLICY second {r['id']}"]} if second_turns else {})} for r in MT_ROWS]


def grader(body: dict) -> str:
    """Grades 8 for the policy's answers, 5 for the reference answers; refuses empty text (a 400)."""
    answer = body["messages"][-1]["content"].split("# Answer\n", 1)[1].split("\n\nExplain", 1)[0]
    if not answer.strip():
        return 400
    return "[[8]]" if "POLICY" in answer else "[[5]]"


def single_judge(proxy) -> LLMJudge:
    return LLMJudge(replace(load_spec("single-grade"), max_concurrency=1), base_url=proxy.base_url)


def test_mt_bench_results_without_second_turn_answers_are_refused():
    assert checked_answers(MT_ROWS, mt_answers())[0]["second_turn_answers"] == ["POLICY second 81"]
    with pytest.raises(ValueError, match="mean over both turns"):
        checked_answers(MT_ROWS, mt_answers(second_turns=False))
    partial = mt_answers()
    partial[2].pop("second_turn_answers")
    with pytest.raises(ValueError, match="'90'"):
        checked_answers(MT_ROWS, partial)


def test_a_reference_guided_question_without_a_reference_is_refused_before_any_call(env, scripted_proxy):
    proxy = scripted_proxy(default=grader)
    rows = [dict(r) for r in MT_ROWS]
    rows[3]["reference"] = []
    with pytest.raises(ValueError, match=r"reference-guided category have no reference answer.*'112'"):
        seed_result(single_judge(proxy), rows, checked_answers(rows, mt_answers()), seed=0)
    assert proxy.requests == 0
    second_turn_missing = [dict(r) for r in MT_ROWS]
    second_turn_missing[1]["reference"] = ["21"]  # the follow-up has no reference solution
    with pytest.raises(ValueError, match="'111'"):
        seed_result(single_judge(proxy), second_turn_missing, checked_answers(MT_ROWS, mt_answers()), seed=0)
    assert proxy.requests == 0


def test_single_grade_grades_only_answers_that_exist(env, scripted_proxy):
    proxy = scripted_proxy(default=grader)
    metrics, arrays = seed_result(single_judge(proxy), MT_ROWS, checked_answers(MT_ROWS, mt_answers()), seed=0)
    # 8 policy answers + the 4 reference answers of the two math questions; no empty text graded
    assert proxy.requests == 12
    assert all(grader(body) != 400 for body in proxy.bodies)
    assert metrics["mt_bench_score"] == 8.0 and metrics["n_compared"] == 4  # the win rate: math only
    assert metrics["win_rate"] == 1.0 and list(arrays["prompts"]) == ["111", "112"]


def test_harness_judge_reports_answers_without_reference_as_graded_alone(env, scripted_proxy):
    comps = prompts(3)
    comps[1] = Comparison(comps[1].prompt, comps[1].output, "", group="q1")
    args = write_files(env, comps)
    proxy = scripted_proxy(default=grader)
    result, report = cli(args, "--base-url", proxy.base_url, "--judge", "single-grade", "--json")
    assert result.exit_code == 0, result.output
    assert proxy.requests == 5 and report["n_graded_only"] == 1 and report["n_judged"] == 2
    assert report["mean_grade"] == 8.0 and report["n_graded"] == 3
    assert any("graded alone" in w for w in report["warnings"])


# -- fault 7: tokens are counted when the endpoint returns no usage --------------------------------------
def test_a_token_budget_stops_when_the_endpoint_omits_usage(env, scripted_proxy):
    args = write_files(env, prompts(60))
    proxy = scripted_proxy(default=lambda body: {"content": prefers("POLICY")(body), "usage": None})
    result, report = cli(args, "--base-url", proxy.base_url, "--judge", "pairwise-verdict",
                         "--budget-tokens", "100", "--json")
    assert result.exit_code == 2 and "BudgetExceeded" in report["stopped"] and "estimate" in report["stopped"]
    assert proxy.requests < 10  # not 120
    assert report["estimated_token_calls"] == report["completions"] > 0
    assert report["prompt_tokens"] + report["completion_tokens"] >= 100
    assert any("no token usage" in w and "ESTIMATES" in w for w in report["warnings"])
    table = CliRunner().invoke(main, ["judge", *args, "--base-url", proxy.base_url, "--judge", "pairwise-verdict",
                                      "--budget-tokens", "100"]).stdout
    assert re.search(r"[1-9]\d* tokens \(estimated for \d+ replies without usage\)", table)


def test_a_dollar_budget_stops_on_estimated_tokens_too(env, scripted_proxy):
    proxy = scripted_proxy(default={"content": "[[A]]", "usage": None})
    judge = LLMJudge(replace(load_spec("pairwise-verdict"), max_concurrency=1), base_url=proxy.base_url,
                     budget_usd=1e-5, prices=(10.0, 10.0))
    run = judge.run(prompts(20))
    assert run.stopped and "BudgetExceeded" in run.stopped and proxy.requests < 40
    assert run.usage["cost_usd"] > 0 and run.usage["estimated_token_calls"] == run.usage["completions"]


# -- faults 12 and 13: the SEM is the interval's; no zero-width interval on a tiny sample ----------------
def test_the_printed_sem_is_over_the_prompts_the_interval_resamples():
    rng = np.random.default_rng(0)
    prefs = np.repeat(rng.choice([0.0, 0.5, 1.0], size=6), 10) + rng.normal(0, 0.01, 60).clip(-0.01, 0.01)
    prefs = prefs.clip(0, 1)
    groups = np.repeat([f"id{i}" for i in range(6)], 10)
    report = win_rate_report(prefs, [10] * 60, [10] * 60, groups, seed=0)
    boots = []  # the same clustered bootstrap, by hand: its standard deviation is what the SEM estimates
    for r in range(2000):
        pick = np.random.default_rng(r).integers(0, 6, 6)
        boots.append(np.concatenate([prefs[groups == f"id{i}"] for i in pick]).mean())
    assert report["win_rate_sem"] == pytest.approx(cluster_sem(prefs, groups))
    assert report["win_rate_sem"] == pytest.approx(np.std(boots), rel=0.2)
    assert report["win_rate_sem"] > 2 * np.std(prefs, ddof=1) / np.sqrt(60)  # not the per-comparison SEM
    assert report["n_prompts"] == 6
    [lc_note] = [w for w in report["warnings"] if w.startswith("LC")]
    assert "60 comparisons judged on 6 prompts" in lc_note


@pytest.mark.parametrize("value", [0.5, 1.0, 0.0])
def test_a_sample_without_spread_gets_an_honest_interval_not_a_point(value):
    report = win_rate_report([value] * 5, [10] * 5, [10] * 5, [f"q{i}" for i in range(5)])
    low, high = report["win_rate_ci"]
    assert high - low > 0.4 and low <= value <= high and report["win_rate_sem"] is None
    assert any("Clopper-Pearson" in w for w in report["warnings"])
    clustered = win_rate_report([value] * 20, [10] * 20, [10] * 20, [f"q{i % 5}" for i in range(20)])
    assert clustered["win_rate_ci"] == pytest.approx(report["win_rate_ci"])  # 5 prompts, however many lines


def test_no_interval_on_fewer_prompts_than_the_minimum_and_no_spread_bound_shrinks_with_prompts():
    few = win_rate_report([1.0, 0.0, 0.5], [1] * 3, [1] * 3)
    assert few["win_rate_ci"] is None and few["win_rate_sem"] is None and few["win_rate"] == 0.5
    assert any(f"at least {MIN_CI_PROMPTS} prompts" in w for w in few["warnings"])
    widths = [(e.high - e.low) for e in (bootstrap_ci([0.5] * k, bounds=(0, 1)) for k in (5, 50, 500))]
    assert widths[0] > widths[1] > widths[2] > 0
    plain = bootstrap_ci([0.5] * 5)  # without bounds nothing is assumed (not necessarily a win rate)
    assert plain.high == plain.low


def test_a_suites_outcome_table_without_spread_gets_no_zero_width_interval():
    tiny = win_rate_ci([[0.5] * 5])  # one seed, five prompts, all ties (a paper or smol suite)
    assert tiny.mean == 0.5 and tiny.high - tiny.low > 0.4
    big = win_rate_ci(np.ones((3, 128)))
    assert big.high == 1.0 and 0.95 < big.low < 1.0
    spread = win_rate_ci([[1.0, 0.5, 0.0, 0.5, 1.0]])  # the usual interval where there is spread
    assert spread.low == pytest.approx(max(0.0, spread.mean - spread.quantile * spread.sem))


def test_cli_prints_no_zero_width_interval_for_five_ties(env, scripted_proxy):
    args = write_files(env, prompts(5))
    proxy = scripted_proxy(default="[[C]]")
    out = CliRunner().invoke(main, ["judge", *args, "--base-url", proxy.base_url, "--judge", "pairwise-verdict"])
    assert out.exit_code == 0, out.output
    assert "[50.0, 50.0]" not in out.stdout and "SEM 0.0" not in out.stdout and "SEM n/a" in out.stdout


# -- fault 14: graded labels count as configured ------------------------------------------------------
GRADED = {"A>>B": 1.0, "A>B": 0.75, "A=B": 0.5, "B>A": 0.25, "B>>A": 0.0}


def test_graded_verdict_labels_count_with_their_configured_values(env, scripted_proxy):
    spec = replace(load_spec("pairwise-verdict"), max_concurrency=1, labels=GRADED)
    # the policy is slightly better in both orders: A>B when it is A, B>A when it is B
    proxy = scripted_proxy(default=lambda body: "[[A>B]]" if policy_first(body) else "[[B>A]]")
    run = LLMJudge(spec, base_url=proxy.base_url).run(prompts(4))
    assert [j.preference for j in run.judgments] == [0.75] * 4
    assert all(j.details["discrete"] == 1.0 for j in run.judgments)  # still a win when counting wins
    strong = scripted_proxy(default=lambda body: "[[A>>B]]" if policy_first(body) else "[[B>A]]")
    [j] = LLMJudge(spec, base_url=strong.base_url).run(prompts(1)).judgments
    assert j.preference == pytest.approx(0.875)  # the mean of the orders' configured values
    split = scripted_proxy(default=lambda body: "[[A>B]]")  # position bias: orders disagree
    [j] = LLMJudge(spec, base_url=split.base_url).run(prompts(1)).judgments
    assert j.preference == 0.5 and j.details["order_disagreement"]
    report = win_rate_report([j.preference for j in run.judgments], [1] * 4, [1] * 4)
    assert report["win_rate"] == 0.75 and report["discrete_win_rate"] == 1.0
