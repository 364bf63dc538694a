"""Judges as data: folders load and validate, hashes cover what changes verdicts, parsers parse."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.judges.parsers import parse_pairwise, parse_rating
from harness.judges.spec import CONFIGS_DIR, builtin_judges, load_spec, render
from harness.llm_client import Completion


def completion(text="", logprobs=None) -> Completion:
    return Completion(text, logprobs, 1, 1, "stop")


def copy_judge(tmp_path, name="pairwise-weighted", **settings):
    folder = tmp_path / f"my-{name}"
    shutil.copytree(CONFIGS_DIR / name, folder)
    data = json.loads((folder / "settings.json").read_text())
    data.update(settings)
    (folder / "settings.json").write_text(json.dumps(data))
    return folder


def test_builtin_judges_load_and_are_registered():
    import harness.judges.llm  # noqa: F401 - registers the built-in LLM judges
    from harness.judges.base import JUDGES

    names = builtin_judges()
    assert {"pairwise-weighted", "pairwise-verdict", "single-grade"} <= set(names)
    for name in names:
        spec = load_spec(name)
        assert spec.temperature == 0.0 and len(spec.hash) == 16 and name in JUDGES
    assert load_spec("single-grade").reference_categories == ("math", "reasoning", "coding")


def test_custom_judge_is_a_folder(tmp_path):
    folder = copy_judge(tmp_path, version=2)
    spec = load_spec(folder)
    assert spec.name == folder.name and spec.version == 2
    assert spec.hash != load_spec("pairwise-weighted").hash


def test_hash_covers_templates_model_and_verdict_settings_only(tmp_path):
    base = load_spec("pairwise-weighted")
    assert base.with_model("other-model").hash != base.hash
    assert load_spec(copy_judge(tmp_path / "a", max_tokens=2)).hash != base.hash
    assert load_spec(copy_judge(tmp_path / "b", price_input_per_mtok=99.0, max_concurrency=1)).hash == base.hash
    folder = copy_judge(tmp_path / "c")
    (folder / "user.txt").write_text((folder / "user.txt").read_text() + " Be strict.")
    assert load_spec(folder).hash != base.hash


def test_bad_folders_fail_loudly(tmp_path):
    with pytest.raises(ValueError, match="unknown setting.*temprature"):
        load_spec(copy_judge(tmp_path / "a", temprature=0.0))
    with pytest.raises(ValueError, match="parser"):
        load_spec(copy_judge(tmp_path / "b", parser="rating"))
    folder = copy_judge(tmp_path / "c")
    (folder / "user.txt").write_text("Compare {answer_a} and {answer_b}.")
    with pytest.raises(ValueError, match=r"\{prompt\}"):
        load_spec(folder)
    with pytest.raises(FileNotFoundError, match="built-in judges are"):
        load_spec("no-such-judge")


def test_render_is_one_pass():
    text = render("Q: {prompt} A: {answer_a} B: {answer_b} {other}",
                  {"prompt": "say {answer_b}", "answer_a": "x", "answer_b": "y"})
    assert text == "Q: say {answer_b} A: x B: y {other}"


def test_logprobs_parser_weighs_label_mass():
    spec = load_spec("pairwise-weighted")
    lp = (("A", -0.5), (" B", -1.5), ("The", -2.0), ("A", -3.0))
    parsed = parse_pairwise(spec, completion("A", lp))
    import math

    a, b = math.exp(-0.5) + math.exp(-3.0), math.exp(-1.5)
    assert parsed.value == pytest.approx(a / (a + b)) and parsed.source == "logprobs"
    assert parse_pairwise(spec, completion("The", (("The", -0.1), ("I", -2.0)))).value is None
    # an endpoint without log-probs: the first word of the text
    assert parse_pairwise(spec, completion("B. Because", None)) == parse_pairwise(spec, completion("B", None))
    assert parse_pairwise(spec, completion("B", None)).value == 0.0
    assert parse_pairwise(spec, completion("B", None)).source == "text"


def test_verdict_json_and_rating_parsers(tmp_path):
    verdict = load_spec("pairwise-verdict")
    assert parse_pairwise(verdict, completion("[[B]] no wait, [[A]]")).value is None  # conflicting labels
    assert parse_pairwise(verdict, completion("tie: [[C]]")).value == 0.5
    assert parse_pairwise(verdict, completion("A is better")).value is None
    as_json = load_spec(copy_judge(tmp_path, parser="json"))
    assert parse_pairwise(as_json, completion('{"verdict": "B"}')).value == 0.0
    assert parse_pairwise(as_json, completion('{"verdict": "Z"}')).value is None
    assert parse_pairwise(as_json, completion("not json")).value is None
    grade = load_spec("single-grade")
    assert parse_rating(grade, completion("Good. Rating: [[8]]")).value == 8.0
    assert parse_rating(grade, completion("[[11]]")).value is None
    assert parse_rating(grade, completion("eight")).value is None
