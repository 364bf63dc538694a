"""Faults users of MT-Bench, AlpacaEval and arena-hard judges have reported, rebuilt against a scripted
local endpoint (fast tier, no model): order disagreements, conflicting labels, log-prob fallbacks,
failures in the cache, per-item refusals, answer-file coverage and errors, LC sanity.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.judges.answers import AnswerFileError, load_answers, pair_answers
from harness.judges.base import Comparison
from harness.judges.cache import JudgmentCache
from harness.judges.llm import ENDPOINT_WRONG_AFTER, LLMJudge
from harness.judges.parsers import CONFLICTING, parse_pairwise, parse_rating
from harness.judges.spec import load_spec
from harness.judges.winrate import MIN_LC_PROMPTS, lc_departs, win_rate_report
from harness.llm_client import Completion, LLMConfigError


def prompts(n: int) -> list[Comparison]:
    return [Comparison(f"Question {i}?", f"POLICY answer {i}.", f"REF answer {i}.", group=f"q{i}") for i in range(n)]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fast-tier-KEY-123456")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path


def serial(name="pairwise-verdict", **changes):
    return replace(load_spec(name), max_concurrency=1, **changes)


def user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


def policy_first(body: dict) -> bool:
    text = user_text(body)
    return text.index("POLICY") < text.index("REF")


def by_order(first, second):
    """A judge that answers ``first`` when the policy's answer is shown first, else ``second``."""
    return lambda body: first if policy_first(body) else second


def write_files(folder, comparisons, outputs=None):
    out, ref = folder / "outputs.jsonl", folder / "references.jsonl"
    rows = outputs if outputs is not None else [{"prompt": c.prompt, "output": c.output} for c in comparisons]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ref.write_text("".join(json.dumps({"prompt": c.prompt, "output": c.reference}) + "\n" for c in comparisons))
    return ["--outputs", str(out), "--references", str(ref)]


def cli_json(args):
    result = CliRunner().invoke(main, ["judge", *args, "--json"])
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


# -- 1. an order disagreement is a tie -----------------------------------------------------------------
# (reply with the policy first, reply with it second): every disagreement, both hard and soft
DISAGREEMENTS = [("[[C]]", "[[B]]"), ("[[C]]", "[[A]]"), ("[[A]]", "[[C]]"), ("[[B]]", "[[C]]"),
                 ("[[A]]", "[[A]]"), ("[[B]]", "[[B]]")]


@pytest.mark.parametrize("first,second", DISAGREEMENTS)
def test_every_order_disagreement_is_a_tie(env, scripted_proxy, first, second):
    proxy = scripted_proxy(default=by_order(first, second))
    [j] = LLMJudge(serial(), base_url=proxy.base_url).run(prompts(1)).judgments
    assert j.details["order_disagreement"] and j.details["discrete"] == 0.5 and j.preference == 0.5


@pytest.mark.parametrize("first,second,expected", [("[[A]]", "[[B]]", 1.0), ("[[B]]", "[[A]]", 0.0),
                                                   ("[[C]]", "[[C]]", 0.5)])
def test_agreeing_orders_keep_their_verdict(env, scripted_proxy, first, second, expected):
    proxy = scripted_proxy(default=by_order(first, second))
    [j] = LLMJudge(serial(), base_url=proxy.base_url).run(prompts(1)).judgments
    assert not j.details["order_disagreement"] and j.preference == j.details["discrete"] == expected


def test_cli_counts_tie_one_way_win_the_other_as_ties(env, scripted_proxy):
    args = write_files(env, prompts(3))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url",
                               scripted_proxy(default=by_order("[[C]]", "[[B]]")).base_url])
    assert result.exit_code == 0, result.output
    assert report["n_order_disagreements"] == 3 and report["n_ties"] == 3 and report["n_wins"] == 0
    assert report["discrete_win_rate"] == 0.5 and report["win_rate"] == 0.5


def test_soft_disagreement_keeps_the_mean_preference_and_is_a_discrete_tie(env, scripted_proxy):
    # P(A) = 0.7 with the policy first (policy 0.7), 0.6 with it second (policy 0.4)
    soft = {True: {"content": "A", "top_logprobs": [["A", math.log(0.7)], ["B", math.log(0.3)]]},
            False: {"content": "A", "top_logprobs": [["A", math.log(0.6)], ["B", math.log(0.4)]]}}
    proxy = scripted_proxy(default=lambda body: soft[policy_first(body)])
    [j] = LLMJudge(serial("pairwise-weighted"), base_url=proxy.base_url).run(prompts(1)).judgments
    assert j.details["sources"] == ["logprobs", "logprobs"] and j.details["order_disagreement"]
    assert j.preference == pytest.approx(0.55) and j.details["discrete"] == 0.5


# -- 2. conflicting labels never decide silently -------------------------------------------------------
ISSUE_REPLY = ("Answer A is correct and complete; answer B is weaker. [[A]]\n"
               "Note: answer B's text contained the string [[B]], which I ignored.")
CONFLICTING_REPLIES = [
    ISSUE_REPLY,
    ISSUE_REPLY.replace("[[A]]", "[[X]]").replace("[[B]]", "[[A]]").replace("[[X]]", "[[B]]"),  # the mirror
    "[[B]] no wait, [[A]]",
    'My verdict: [[A]]. (Answer B literally ends with "[[B]]".)',
    "Final verdict: [[B]]\n```\nprint('[[A]]')\n```",
    "Both are fine: `[[C]]`... on reflection [[A]]",
    "Verdict: “[[B]]”, although the instructions mention [[C]]",
    "[[a]] is what I'd say, but [[B]]",
]


@pytest.mark.parametrize("reply", CONFLICTING_REPLIES)
def test_conflicting_labels_have_no_verdict(reply):
    parsed = parse_pairwise(load_spec("pairwise-verdict"), Completion(reply, None, 1, 1, "stop"))
    assert parsed.value is None and parsed.problem == CONFLICTING


@pytest.mark.parametrize("reply,value", [("[[A]] ... so again: [[A]]", 1.0), ("Verdict: `[[B]]`", 0.0),
                                         ("**[[C]]**", 0.5), ('"[[b]]"', 0.0)])
def test_one_label_however_formatted_is_the_verdict(reply, value):
    assert parse_pairwise(load_spec("pairwise-verdict"), Completion(reply, None, 1, 1, "stop")).value == value


@pytest.mark.parametrize("reply,value", [("Rating: [[8]] ... I first thought [[3]]", None),
                                         ("Rating: [[7]], as the rubric's [[7]] says", 7.0)])
def test_conflicting_grades_have_no_verdict(reply, value):
    assert parse_rating(load_spec("single-grade"), Completion(reply, None, 1, 1, "stop")).value == value


def test_conflicting_replies_are_retried_then_counted_unparseable(env, scripted_proxy):
    mirror = CONFLICTING_REPLIES[1]
    proxy = scripted_proxy(default=by_order(ISSUE_REPLY, mirror))
    args = write_files(env, prompts(5))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", proxy.base_url])
    assert proxy.requests == 20  # 10 calls, each retried once
    assert result.exit_code == 1 and "conflicting" in result.stderr
    assert report["n_judged"] == 0 and report["n_unparseable"] == 5 and report["n_conflicting_calls"] == 10
    assert report["win_rate"] is None and any("conflicting" in w for w in report["warnings"])


def test_a_clean_retry_decides(env, scripted_proxy):
    proxy = scripted_proxy(script=[ISSUE_REPLY, "[[A]]"], default="[[B]]")
    [j] = LLMJudge(serial(), base_url=proxy.base_url).run(prompts(1)).judgments
    assert j.preference == 1.0 and j.details["attempts"] == [2, 1]


# -- 3. a weighted judge without log-probs says so and never shares the cache --------------------------
def logprob_reply(body):
    p = 10 / 11 if policy_first(body) else 1 / 11  # the policy's answer: P = 10/11 in either position
    return {"content": "A", "top_logprobs": [["A", math.log(p)], ["B", math.log(1 - p)]]}


def test_weighted_judge_without_logprobs_warns_and_is_not_served_to_a_logprob_run(env, scripted_proxy):
    args = write_files(env, prompts(3))
    text_only = scripted_proxy(default=by_order("A", "B"))
    result, report = cli_json([*args, "--base-url", text_only.base_url])
    assert result.exit_code == 0 and report["judge"] == "pairwise-weighted"
    assert report["n_logprob_fallbacks"] == 6 and report["win_rate"] == 1.0
    assert any("no log-probs" in w for w in report["warnings"])
    table = CliRunner().invoke(main, ["judge", *args, "--base-url", text_only.base_url])
    assert "log-prob fallbacks" in table.stdout and "warning:" in table.stdout
    text_only.default = logprob_reply  # the same server, now returning log-probs
    result, report = cli_json([*args, "--base-url", text_only.base_url])
    assert report["api_calls"] == 6 and report["n_cached"] == 0 and report["n_logprob_fallbacks"] == 0
    assert report["win_rate"] == pytest.approx(10 / 11) and report["warnings"] == [] or \
        all("LC" in w or "CI not computed" in w for w in report["warnings"])
    text_only.default = by_order("A", "B")
    result, report = cli_json([*args, "--base-url", text_only.base_url])  # log-prob verdicts are final
    assert report["api_calls"] == 0 and report["win_rate"] == pytest.approx(10 / 11)


def test_a_text_verdict_cached_under_the_logprob_key_is_not_served(env, scripted_proxy):
    judge = LLMJudge(serial("pairwise-weighted"), base_url=scripted_proxy(default=logprob_reply).base_url)
    first, second = judge._pairwise_calls(prompts(1)[0])
    with JudgmentCache() as cache:  # as earlier versions stored a fallback
        for call in (first, second):
            cache.put(call.key, judge.id, judge.hash, {"status": "ok", "value": 1.0, "source": "text",
                                                       "attempts": 1, "raw": ["A"]})
    run = judge.run(prompts(1))
    assert run.usage["api_calls"] == 2 and run.judgments[0].details["sources"] == ["logprobs", "logprobs"]
    with JudgmentCache() as cache:
        assert cache.get_many([first.key])[first.key]["source"] == "logprobs"  # replaced


# -- 4. failures are never final -----------------------------------------------------------------------
@pytest.mark.parametrize("broken", ["", "   \n", "I cannot decide.", ISSUE_REPLY])
def test_unparseable_answers_are_asked_again_after_the_endpoint_is_fixed(env, scripted_proxy, broken):
    args = write_files(env, prompts(3))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", scripted_proxy(default=broken).base_url])
    assert result.exit_code == 1 and report["n_judged"] == 0
    fixed = scripted_proxy(default=by_order("[[A]]", "[[B]]"))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", fixed.base_url])
    assert result.exit_code == 0 and report["api_calls"] == 6 and report["n_cached"] == 0
    assert report["n_judged"] == 3 and report["win_rate"] == 1.0


@pytest.mark.parametrize("failure", [500, 400])
def test_failed_calls_are_not_cached(env, scripted_proxy, failure):
    comps = prompts(3)
    broken = scripted_proxy(default=lambda body: failure if "Question 0?" in user_text(body) else "[[C]]")
    run = LLMJudge(serial(), base_url=broken.base_url, max_retries=0).run(comps)
    assert run.stopped or math.isnan(run.judgments[0].preference)
    fixed = scripted_proxy(default="[[C]]")
    again = LLMJudge(serial(), base_url=fixed.base_url).run(comps)
    assert again.stopped is None and all(j.preference == 0.5 for j in again.judgments)
    assert fixed.requests >= 2  # the failed calls were asked again


# -- 5. a per-item refusal does not sink the run ---------------------------------------------------------
@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_refused_item_is_not_judged_with_its_reason(env, scripted_proxy, status):
    filtered = scripted_proxy(default=lambda body: status if "Question 2?" in user_text(body)
                              else by_order("[[A]]", "[[B]]")(body))
    args = write_files(env, prompts(5))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", filtered.base_url])
    assert result.exit_code == 0, result.output
    assert report["n_judged"] == 4 and report["n_not_judged"] == 1 and report["win_rate"] == 1.0
    assert report["not_judged"][0]["group"] == "Question 2?" and f"HTTP {status}" in report["not_judged"][0]["reason"]
    assert any("refused" in w for w in report["warnings"])


def test_a_refusal_before_any_answer_is_still_an_item_fault(env, scripted_proxy):
    proxy = scripted_proxy(default=lambda body: 400 if "Question 0?" in user_text(body) else "[[C]]")
    run = LLMJudge(serial(), base_url=proxy.base_url).run(prompts(3))  # one call at a time: the refusals come first
    assert run.n_rejected_calls == 2 and run.judgments[0].details["status"] == "not_judged"
    assert [j.preference for j in run.judgments[1:]] == [0.5, 0.5]


def test_an_endpoint_refusing_everything_fails_clearly_and_soon(env, scripted_proxy):
    proxy = scripted_proxy(default=400)
    with pytest.raises(LLMConfigError, match="refused all .* HTTP 400"):
        LLMJudge(serial(), base_url=proxy.base_url).run(prompts(20))
    assert proxy.requests == ENDPOINT_WRONG_AFTER
    args = write_files(env, prompts(2))
    result = CliRunner().invoke(main, ["judge", *args, "--base-url", scripted_proxy(default=400).base_url])
    assert result.exit_code == 2 and "HTTP 400" in result.stderr
    unauthorised = scripted_proxy(script=["[[A]]"], default=401)  # a bad key is never an item's fault
    with pytest.raises(LLMConfigError, match="HTTP 401"):
        LLMJudge(serial(), base_url=unauthorised.base_url).run(prompts(3))


def test_the_endpoint_error_text_cannot_drive_the_terminal(env, scripted_proxy):
    from harness.llm_client import LLMRequestRejected
    proxy = scripted_proxy(default=400)
    judge = LLMJudge(serial(), base_url=proxy.base_url)

    class Hostile(Exception):
        message = "blocked\x1b[2J\x1b]0;pwned\x07 by filter\r\n"
    text = judge.client._describe(400, Hostile())
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text and "blocked" in text
    assert issubclass(LLMRequestRejected, LLMConfigError)


# -- 6. answer-file coverage -----------------------------------------------------------------------------
def test_missing_outputs_are_counted_and_warned(env, scripted_proxy):
    comps = prompts(5)
    args = write_files(env, comps, outputs=[{"prompt": c.prompt, "output": c.output} for c in comps[:2]])
    proxy = scripted_proxy(default=by_order("[[A]]", "[[B]]"))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", proxy.base_url])
    assert result.exit_code == 0 and report["n_total"] == 2 and report["n_missing_outputs"] == 3
    assert report["n_references"] == 5 and any("3 of 5 reference prompts" in w for w in report["warnings"])
    table = CliRunner().invoke(main, ["judge", *args, "--judge", "pairwise-verdict", "--base-url", proxy.base_url])
    assert "warning: 3 of 5 reference prompts have no output" in table.stdout


def test_a_repeated_output_line_is_judged_once(env, scripted_proxy):
    comps = prompts(3)
    rows = [{"prompt": c.prompt, "output": c.output} for c in comps]
    args = write_files(env, comps, outputs=[*rows, rows[1], rows[1]])
    proxy = scripted_proxy(default=by_order("[[A]]", "[[B]]"))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", proxy.base_url])
    assert result.exit_code == 0 and report["n_total"] == 3 and report["n_duplicate_prompts"] == 2
    assert proxy.requests == 6 and any("repeated" in w for w in report["warnings"])


@pytest.mark.parametrize("which", ["outputs", "references"])
def test_a_prompt_answered_twice_differently_is_refused_naming_both_lines(env, which):
    comps = prompts(3)
    rows = [{"prompt": c.prompt, "output": c.output} for c in comps]
    rows.append({"prompt": comps[0].prompt, "output": "another answer"})
    args = write_files(env, comps, outputs=rows if which == "outputs" else None)
    if which == "references":
        (env / "references.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(main, ["judge", *args])
    assert result.exit_code == 2 and f"{which}.jsonl:4:" in result.stderr and "line 1" in result.stderr


# -- 7. every answer-file error names the file and the line ------------------------------------------------
GOOD = b'{"prompt": "p1", "output": "o1"}\n'
BAD_FILES = {
    "latin-1": (GOOD + '{"prompt": "caf\xe9", "output": "o"}\n'.encode("latin-1"), 2, "not UTF-8"),
    "cp1252 quotes": (GOOD * 2 + b'{"prompt": "\x93hi\x94", "output": "o"}\n', 3, "not UTF-8"),
    "utf-16": ('{"prompt": "p", "output": "o"}\n'.encode("utf-16"), 1, "not UTF-8"),
    "bad json": (GOOD + b"\n" + b'{"prompt": "p2", "output": }\n', 3, "not JSON"),
    "missing field": (GOOD + b'{"prompt": "p2", "answer": "o2"}\n', 2, 'no field "output"'),
    "wrong type": (GOOD + b'{"prompt": "p2", "output": 3}\n', 2, 'field "output" must be a string'),
    "array in a line": (GOOD + b'[{"prompt": "p", "output": "o"}]\n', 2, "JSON array"),
    "pretty object": (b'{\n  "prompt": "p",\n  "output": "o"\n}\n', 1, "JSON lines"),
    "a number": (GOOD + b"42\n", 2, "not an object"),
    # a file that IS a JSON array is read as AlpacaEval's model_outputs.json: tests/test_formats.py
    "bad id": (GOOD + b'{"prompt": "p2", "output": "o", "id": [1]}\n', 2, 'field "id"'),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_answer_file_errors_name_file_and_line(tmp_path, name):
    data, line, what = BAD_FILES[name]
    path = tmp_path / "answers.jsonl"
    path.write_bytes(data)
    with pytest.raises(AnswerFileError) as info:
        load_answers(path)
    assert str(info.value).startswith(f"{path}:{line}: ") and what in str(info.value)


def test_empty_file_names_the_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n  \n")
    with pytest.raises(AnswerFileError, match=f"{path}: no answers"):
        load_answers(path)


def test_bom_and_crlf_are_read(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n") * 2 + b'{"prompt": "p2", "output": "o2"}\r\n')
    answers = load_answers(path)
    assert [r["prompt"] for r in answers.rows] == ["p1", "p1", "p2"] and answers.lines == [1, 2, 3]
    comparisons, coverage = pair_answers(answers, answers.__class__(path, answers.rows[1:], answers.lines[1:]))
    assert len(comparisons) == 2 and coverage["n_duplicate_prompts"] == 1


def test_cli_names_the_non_utf8_file(env):
    comps = prompts(2)
    args = write_files(env, comps)
    (env / "outputs.jsonl").write_bytes(GOOD + '{"prompt": "caf\xe9", "output": "o"}\n'.encode("latin-1"))
    result = CliRunner().invoke(main, ["judge", *args])
    assert result.exit_code == 2 and f"{env / 'outputs.jsonl'}:2: not UTF-8 (byte 0xe9" in result.stderr


# -- 8. LC sanity --------------------------------------------------------------------------------------
def test_lc_is_not_computed_on_too_few_prompts():
    report = win_rate_report([0.75] * 3, [10, 20, 30], [5, 5, 5], ["a", "b", "c"])
    assert report["lc_win_rate"] is None and report["lc_win_rate_ci"] is None
    assert any(f"at least {MIN_LC_PROMPTS}" in w for w in report["warnings"])
    many = MIN_LC_PROMPTS + 5
    rng = np.random.default_rng(0)
    report = win_rate_report(rng.uniform(0, 1, many), rng.normal(500, 50, many), rng.normal(500, 50, many))
    assert report["lc_win_rate"] is not None and report["warnings"] == []
    # prompts, not lines, count: the same prompt judged many times is still one prompt
    report = win_rate_report([1.0, 0.0] * many, [10, 20] * many, [15] * (2 * many), ["a", "b"] * many)
    assert report["lc_win_rate"] is None


@pytest.mark.parametrize("raw,lc,departs", [(0.5, 0.63, True), (0.5, 0.62, False), (0.5, 0.37, True),
                                            (0.9, 0.7, False), (0.9, 0.6, True), (0.05, 0.2, False),
                                            (0.05, 0.3, True), (0.5, 0.999, True)])
def test_lc_departure_uses_alpacaevals_margin(raw, lc, departs):
    assert lc_departs(raw, lc) is departs


def length_judge(ties: int):
    """Prefers the non-empty answer; on the first ``ties`` prompts with an empty answer it says tie."""
    def judge(body):
        text = user_text(body)
        empty_first, empty_second = "# Answer A\n\n\n# Answer B" in text, "# Answer B\n\n\nExplain" in text
        if empty_first or empty_second:
            number = int(text.split("Question ")[1].split("?")[0])
            if number < 2 * ties:
                return "[[C]]"
            return "[[B]]" if empty_first else "[[A]]"
        return by_order("[[A]]", "[[B]]")(body)
    return judge


def empty_half(n: int) -> list[Comparison]:
    """The issue's case: the policy's answer is empty on half the prompts and a bit longer than the
    reference on the rest."""
    return [Comparison(f"Question {i}?", "" if i % 2 else f"POLICY answer {i:03d} ".ljust(120, "y"),
                       "REF " + "x" * 96, group=f"q{i}") for i in range(n)]


def test_empty_outputs_and_a_runaway_lc_are_warned(env, scripted_proxy):
    n = 2 * MIN_LC_PROMPTS
    args = write_files(env, empty_half(n))
    proxy = scripted_proxy(default=length_judge(ties=3))  # three empty answers tie: the fit is finite
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url", proxy.base_url])
    assert result.exit_code == 0 and report["win_rate"] == pytest.approx(0.515)
    assert report["lc_win_rate"] > 0.8  # the GLM leans on the empty answers' length difference
    warnings = " ".join(report["warnings"])
    assert f"{n // 2} of {n} outputs are empty" in warnings and "departs from the raw win rate" in warnings


def test_lc_is_not_computed_when_length_alone_separates_wins_from_losses(env, scripted_proxy):
    args = write_files(env, empty_half(2 * MIN_LC_PROMPTS))
    result, report = cli_json([*args, "--judge", "pairwise-verdict", "--base-url",
                               scripted_proxy(default=length_judge(ties=0)).base_url])
    assert result.exit_code == 0 and report["win_rate"] == 0.5 and report["lc_win_rate"] is None
    assert any("separates every win from every loss" in w for w in report["warnings"])
    table = CliRunner().invoke(main, ["judge", *args, "--judge", "pairwise-verdict", "--base-url",
                                      scripted_proxy(default=length_judge(ties=0)).base_url])
    assert table.exit_code == 0 and "warning: LC win rate not computed" in table.stdout


@pytest.mark.parametrize("prefs,feature,expected", [
    ([1, 1, 0, 0], [0.5, 0.2, -0.1, -0.9], True),
    ([0, 0, 1, 1], [0.5, 0.2, -0.1, -0.9], True),  # shorter answers win: separated the other way
    ([1, 0, 1, 0], [0.5, 0.2, -0.1, -0.9], False),
    ([1, 1, 0.5, 0], [0.5, 0.2, -0.1, -0.9], False),  # a tie keeps the fit finite
    ([0.9, 0.8, 0.2, 0.1], [0.5, 0.2, -0.1, -0.9], False),  # so do soft preferences
    ([1, 1, 0, 0], [0, 0, 0, 0], False),  # no length difference: nothing separates
])
def test_separation_is_detected_only_where_the_fit_is_infinite(prefs, feature, expected):
    from harness.judges.winrate import separated
    assert separated(prefs, feature) is expected
