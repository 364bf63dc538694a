"""The field's answer formats in and out (harness.formats): AlpacaEval, MT-Bench, Arena-Hard and ours.

Files are written here the way each tool writes them (field names and layouts from AlpacaEval's
model_outputs.json, FastChat's data/mt_bench and Arena-Hard-Auto's data/arena-hard-*), read back,
detected, paired and judged through `harness judge` against a scripted local endpoint.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.formats import AnswerFileError, detect_format, read_answers, safe_model_id, write_answers
from harness.judges.answers import pair_answers

PROMPTS = ["Name a primary colour.", "What is 2+2?", "Capital of France?"]
OUTPUTS = ["Red.", "4", "Paris."]
REFERENCES = ["Banana.", "5", "Lyon."]


def lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def alpaca(tmp_path):
    path = tmp_path / "model_outputs.json"
    path.write_text(json.dumps([{"instruction": p, "output": o, "generator": "my-model", "dataset": "helpful_base",
                                 "datasplit": "eval"} for p, o in zip(PROMPTS, OUTPUTS, strict=True)], indent=2))
    return path


@pytest.fixture
def mt_bench(tmp_path):
    questions = lines(tmp_path / "question.jsonl", [
        {"question_id": 81 + i, "category": c, "turns": [p, "Now shorter."]}
        for i, (p, c) in enumerate(zip(PROMPTS, ["writing", "math", "reasoning"], strict=True))])
    answers = lines(tmp_path / "vicuna.jsonl", [
        {"question_id": 81 + i, "answer_id": f"a{i}", "model_id": "vicuna-13b", "tstamp": 1.0,
         "choices": [{"index": 0, "turns": [o, "second turn"]}]} for i, o in enumerate(OUTPUTS)])
    return answers, questions


def test_alpaca_eval_model_outputs_are_detected_and_read(alpaca):
    assert detect_format(alpaca) == "alpaca_eval"
    f = read_answers(alpaca)
    assert [r["prompt"] for r in f.rows] == PROMPTS and [r["output"] for r in f.rows] == OUTPUTS
    assert f.unit == "item" and f.lines == [1, 2, 3] and f.extra["generators"] == ["my-model"]


def test_mt_bench_answers_take_prompts_and_categories_from_the_question_file(mt_bench):
    answers, questions = mt_bench
    assert detect_format(answers) == "mt_bench"
    f = read_answers(answers, questions=questions)
    assert [r["prompt"] for r in f.rows] == PROMPTS and [r["output"] for r in f.rows] == OUTPUTS
    assert [r["category"] for r in f.rows] == ["writing", "math", "reasoning"] and [r["id"] for r in f.rows] == \
        ["81", "82", "83"]
    assert f.ignored_turns == 3  # the second turns are counted, not judged


def test_mt_bench_without_questions_names_the_option(mt_bench):
    with pytest.raises(AnswerFileError, match="--questions"):
        read_answers(mt_bench[0])


def test_an_mt_bench_answer_to_an_unknown_question_names_file_and_line(mt_bench, tmp_path):
    answers, questions = mt_bench
    bad = lines(tmp_path / "bad.jsonl", [json.loads(x) for x in answers.read_text().splitlines()] +
                [{"question_id": 999, "model_id": "m", "choices": [{"index": 0, "turns": ["x"]}]}])
    with pytest.raises(AnswerFileError, match=f"{bad}:4: question_id '999' is not in the question file"):
        read_answers(bad, questions=questions)


def test_arena_hard_v01_and_v2_are_read(tmp_path):
    questions = lines(tmp_path / "question.jsonl", [
        {"question_id": f"q{i}", "category": "arena-hard-v0.1", "cluster": "c", "turns": [{"content": p}]}
        for i, p in enumerate(PROMPTS)])
    v01 = lines(tmp_path / "gpt.jsonl", [
        {"question_id": f"q{i}", "answer_id": "x", "model_id": "gpt", "tstamp": 0,
         "choices": [{"index": 0, "turns": [{"content": o, "token_len": 3}]}]} for i, o in enumerate(OUTPUTS)])
    assert detect_format(v01) == "arena_hard"
    f = read_answers(v01, questions=questions)
    assert [r["prompt"] for r in f.rows] == PROMPTS and [r["output"] for r in f.rows] == OUTPUTS
    v2 = lines(tmp_path / "v2.jsonl", [
        {"uid": f"u{i}", "ans_id": "x", "model": "m", "tstamp": 0, "metadata": {"token_len": 2},
         "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": {"answer": o}}]}
        for i, (p, o) in enumerate(zip(PROMPTS, OUTPUTS, strict=True))])
    assert detect_format(v2) == "arena_hard"
    g = read_answers(v2)  # v2 answers carry their prompt: no question file needed
    assert [(r["prompt"], r["output"], r["id"]) for r in g.rows] == \
        [(p, o, f"u{i}") for i, (p, o) in enumerate(zip(PROMPTS, OUTPUTS, strict=True))]


@pytest.mark.parametrize("content, fragment", [
    ('{"answer": "x", "text": "y"}\n', "cannot tell the answer format"),
    ('[{"prompt": "p", "output": "o"}]\n', "AlpacaEval's model_outputs.json"),
    ('[{"instruction": "p"}]\n', 'no field "output"'),
    ('[1, 2', "starts like a JSON array"),
])
def test_unreadable_files_name_the_format_expected(tmp_path, content, fragment):
    path = tmp_path / "answers.json"
    path.write_text(content)
    with pytest.raises(AnswerFileError, match=fragment) as info:
        read_answers(path)
    assert str(path) in str(info.value)


def test_an_unknown_format_lists_every_format(tmp_path):
    path = lines(tmp_path / "x.jsonl", [{"question": "q", "response": "r"}])
    with pytest.raises(AnswerFileError) as info:
        read_answers(path)
    for name in ("jsonl", "alpaca_eval", "mt_bench", "arena_hard"):
        assert name in str(info.value)


@pytest.mark.parametrize("fmt", ["jsonl", "alpaca_eval", "mt_bench", "arena_hard"])
def test_written_answers_read_back_and_pair(tmp_path, fmt):
    written = write_answers(tmp_path / fmt, fmt, model="../evil name", prompts=PROMPTS, outputs=OUTPUTS,
                            references=REFERENCES, categories=["writing", "math", "reasoning"])
    assert all(p.resolve().is_relative_to((tmp_path / fmt).resolve()) for p in written)  # confined
    questions = next((p for p in written if p.name == "question.jsonl"), None)
    policy, reference = [p for p in written if p.name != "question.jsonl"]
    assert "evil-name" in str(policy) and "reference" in str(reference)
    assert detect_format(policy) == fmt and detect_format(reference) == fmt
    out, ref = read_answers(policy, questions=questions), read_answers(reference, questions=questions)
    comparisons, coverage = pair_answers(out, ref)
    assert [(c.prompt, c.output, c.reference) for c in comparisons] == list(zip(PROMPTS, OUTPUTS, REFERENCES,
                                                                                strict=True))
    assert coverage["n_missing_outputs"] == 0


def test_safe_model_id_cannot_name_a_path_or_the_reference():
    assert safe_model_id("../../etc/passwd") == "etc-passwd"
    assert safe_model_id("") == "model" and safe_model_id("..") == "model"
    assert safe_model_id("reference") == "reference-policy"


def test_cli_judges_alpaca_eval_outputs_against_mt_bench_style_references(tmp_path, scripted_proxy, monkeypatch,
                                                                          alpaca, mt_bench):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    _, questions = mt_bench
    refs = lines(tmp_path / "ref.jsonl", [
        {"question_id": 81 + i, "model_id": "ref", "choices": [{"index": 0, "turns": [r]}]}
        for i, r in enumerate(REFERENCES)])
    proxy = scripted_proxy(default="[[A]]")
    result = CliRunner().invoke(main, ["judge", "--outputs", str(alpaca), "--references", str(refs), "--questions",
                                       str(questions), "--judge", "pairwise-verdict", "--base-url", proxy.base_url,
                                       "--model", "m", "--json", "--html", str(tmp_path / "judged.html")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_total"] == 3 and proxy.requests == 6  # both orders of each pair
    assert report["n_ties"] == 3  # "A" both times is a position bias: a tie by MT-Bench's rule
    page = (tmp_path / "judged.html").read_text()  # the viewer: each output beside its reference, with reasoning
    assert page.count('<article class="item"') == 3 and "Paris." in page and "Lyon." in page
    assert page.count("[policy&#x27;s answer as A] [[A]]") == 3 and 'data-verdict="tie"' in page


def test_cli_refuses_questions_for_files_that_hold_their_prompts(tmp_path, monkeypatch, alpaca, mt_bench):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = CliRunner().invoke(main, ["judge", "--outputs", str(alpaca), "--references", str(alpaca),
                                       "--questions", str(mt_bench[1]), "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2 and "--questions goes with MT-Bench or Arena-Hard" in result.stderr


def test_a_forced_format_names_what_it_expected(alpaca):
    with pytest.raises(AnswerFileError, match=r"item 1: no field \"prompt\" \(our JSON lines"):
        read_answers(alpaca, "jsonl")
