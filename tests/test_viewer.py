"""The answers behind the numbers: the record's answers block (harness.transcript), the viewer page
(harness.viewer) from `harness show`, the board's answers/ pages and `harness judge --html`. Every
loss-made string is escaped; the browser tier (test_viewer_browser.py) runs the page's search."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_leaderboard_records import SUITE_HASH, make_record

from harness.cli import main
from harness.leaderboard.publish import open_board, submit_record
from harness.leaderboard.verify import record_filename
from harness.records import RecordError, validate_record
from harness.store import RunStore
from harness.transcript import AnswersError, answer_rows, check_answers, make_answers, seed_answers
from harness.viewer import NoAnswers, record_page

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
PROMPTS = ["Describe a walk in the forest.", "Name a colour. " + HOSTILE, "Count to three."]
REFERENCES = ["Trees and birds.", "Blue.", "1 2 3"]


def with_answers(record: dict, outputs=None, reasoning=None) -> dict:
    outputs = outputs or {s: [f"seed {s} answer {i}" for i in range(len(PROMPTS))] for s in record["seeds"]}
    block = make_answers(PROMPTS, REFERENCES, [
        seed_answers(s, outputs[s], [1.0, 0.5, 0.0], notes=["score 1 vs 0", None, "score 0 vs 1"],
                     reasoning=reasoning) for s in record["seeds"]],
        point="end of training (step 40)", judge_id="gold", judge_kind="code" if reasoning is None else "llm")
    return validate_record({**record, "answers": block})


def test_rows_flatten_seeds_and_prompts_with_verdicts():
    rows = answer_rows(with_answers(make_record(seeds=(0, 1)))["answers"])
    assert len(rows) == 6 and [r["seed"] for r in rows] == [0, 0, 0, 1, 1, 1]
    assert [r["verdict"] for r in rows[:3]] == ["win", "tie", "loss"]
    assert rows[4]["prompt"] == PROMPTS[1] and rows[4]["reference"] == "Blue." and rows[4]["output"] == "seed 1 answer 1"


@pytest.mark.parametrize("breakage, fragment", [
    (lambda b: b["seeds"][0]["outputs"].pop(), "outputs must be a list of 3 strings"),
    (lambda b: b["seeds"][0]["preference"].__setitem__(0, 1.5), "preference[0] must be a number in [0, 1]"),
    (lambda b: b["references"].__setitem__(1, {"html": "x"}), "references[1] must be a string"),
    (lambda b: b["judge"].__setitem__("kind", "oracle"), "answers.judge must be"),
    (lambda b: b["seeds"][0]["notes"].__setitem__(0, "x" * 10_000), "at most 4000 characters"),
])
def test_a_malformed_answers_block_is_refused_naming_the_field(breakage, fragment):
    record = with_answers(make_record(seeds=(0,)))
    block = json.loads(json.dumps(record["answers"]))
    breakage(block)
    with pytest.raises(AnswersError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        check_answers(block)
    with pytest.raises(RecordError):
        validate_record({**record, "answers": block})


def test_the_page_escapes_every_record_string():
    record = make_record(name=HOSTILE[:60], seeds=(0,))
    record = with_answers(record, outputs={0: [HOSTILE, "ok", "</article><script>alert(1)</script>"]},
                          reasoning=[HOSTILE, None, None])
    page = record_page(record)
    assert "<script>window.__pwned" not in page and "<img src=x" not in page and "<script>alert" not in page
    assert page.count("&lt;script&gt;window.__pwned = 1&lt;/script&gt;") >= 4  # name, prompt, answer, reasoning
    assert page.count("<script>") == 1  # the page's own filter script only
    assert 'data-verdict="win"' in page and "the judge's reasoning" in page


def test_a_record_without_answers_says_so():
    with pytest.raises(NoAnswers, match="keeps no answers"):
        record_page(make_record())


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path


def test_show_by_run_id_writes_the_page_and_exports_answers(home):
    record = with_answers(make_record(seeds=(0, 1)))
    run_id = RunStore().add(record)
    out = home / "view.html"
    result = CliRunner().invoke(main, ["show", str(run_id), "--html", str(out), "--answers", str(home / "ae"),
                                       "--answers-format", "mt_bench", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert f"answers page: {out}" in result.output and "seed 1 answer 2" in out.read_text()
    answers = [json.loads(x) for x in (home / "ae" / "model_answer").glob("dpo-*.jsonl").__next__().read_text()
               .splitlines()]
    assert [a["choices"][0]["turns"][0] for a in answers] == ["seed 1 answer 0", "seed 1 answer 1", "seed 1 answer 2"]
    assert (home / "ae" / "question.jsonl").is_file() and (home / "ae" / "model_answer" / "reference.jsonl").is_file()


def test_show_default_page_is_under_the_harness_home_and_missing_answers_exit_1(home):
    path = home / "r.json"
    path.write_text(json.dumps(with_answers(make_record())))
    result = CliRunner().invoke(main, ["show", str(path), "--quiet"])
    assert result.exit_code == 0 and result.output.startswith(f"answers page: {home / 'home' / 'views'}")
    path.write_text(json.dumps(make_record()))
    assert CliRunner().invoke(main, ["show", str(path)]).exit_code == 1
    bad = CliRunner().invoke(main, ["show", "12345"])
    assert bad.exit_code == 2 and "no run 12345" in bad.stderr


def test_the_board_links_each_entry_to_its_answers_page(tmp_path):
    board = tmp_path / "tiny"
    plain, shown = make_record("ipo", 0.55), with_answers(make_record("dpo", 0.6))
    submit_record(board, shown, suite="tiny", expected_hash=SUITE_HASH,
                  verification={"verified": True, "method": "local", "note": ""})
    submit_record(board, plain, suite="tiny", expected_hash=SUITE_HASH,
                  verification={"verified": True, "method": "local", "note": ""})
    pages = sorted((board / "answers").glob("*.html"))
    assert [p.name for p in pages] == [record_filename(shown).replace(".json", ".html")]
    index = (board / "index.html").read_text()
    assert index.count('class="answers"') == 1 and f'href="answers/{pages[0].name}"' in index
    assert "seed 2 answer 1" in pages[0].read_text()
    open_board(board, suite="tiny", expected_hash=SUITE_HASH, regenerate=True)
    assert sorted((board / "answers").glob("*.html")) == pages  # regenerated, nothing stale
    (board / "records" / record_filename(shown)).unlink()
    open_board(board, suite="tiny", expected_hash=SUITE_HASH, regenerate=True)
    assert not list((board / "answers").glob("*.html"))  # its entry left the board: its page goes too


def test_each_hyper_parameter_setting_has_its_own_answers_page(tmp_path):
    """Two settings of one loss file are two entries (harness.hyperparams.entry_key): each gets the page named
    after its own record file (with the setting key), and the page names the setting."""
    board = tmp_path / "tiny"
    low, high = make_record("ld_dpo", 0.62), make_record("ld_dpo", 0.50)
    low["loss"]["hyperparameters"], high["loss"]["hyperparameters"] = {"ld_alpha": 0.25}, {"ld_alpha": 0.5}
    low, high = with_answers(low), with_answers(high)
    for r in (low, high):
        submit_record(board, r, suite="tiny", expected_hash=SUITE_HASH,
                      verification={"verified": True, "method": "local", "note": ""})
    pages = sorted(p.name for p in (board / "answers").glob("*.html"))
    assert pages == sorted(record_filename(r).replace(".json", ".html") for r in (low, high)) and len(pages) == 2
    index = (board / "index.html").read_text()
    assert all(f'href="answers/{p}"' in index for p in pages)
    open_board(board, suite="tiny", expected_hash=SUITE_HASH, regenerate=True)
    assert sorted(p.name for p in (board / "answers").glob("*.html")) == pages  # accepted as the board's own
    assert "ld_alpha=0.25" in record_page(low)


def test_the_board_csv_carries_alpaca_evals_columns(tmp_path):
    import csv
    import io

    import numpy as np
    from test_submit_proof import with_outcomes

    from harness.stats.crossed import win_rate_ci

    rows = [[1, 0.5, 0], [1, 1, 0]]
    record = with_answers(with_outcomes(make_record("dpo", 0.6, seeds=(0, 1)), rows))
    sem = win_rate_ci(np.array(rows, dtype=float)).sem
    record["metrics"]["win_rate_sem"] = sem
    submit_record(tmp_path / "tiny", validate_record(record), suite="tiny", expected_hash=SUITE_HASH,
                  verification={"verified": True, "method": "local", "note": ""})
    row = next(csv.DictReader(io.StringIO((tmp_path / "tiny" / "leaderboard.csv").read_text())))
    assert float(row["win_rate"]) == pytest.approx(np.mean(rows)) and float(row["standard_error"]) == pytest.approx(sem)
    assert row["n_total"] == "6"  # 2 seeds x 3 prompts
    outputs = [o for s in record["answers"]["seeds"] for o in s["outputs"]]
    assert float(row["avg_length"]) == pytest.approx(sum(map(len, outputs)) / len(outputs))
    assert row["length_controlled_winrate"] == "" and "lc_standard_error" in row  # no LLM judge here


def _completions(texts):
    from harness.generation.base import Completion

    return [[Completion(t, (1, 2), True)] for t in texts]


SMOL_ROWS = [{"prompt": "Describe a park. Answer in at most 3 words.", "reference": ["A big green park with trees."]},
             {"prompt": "Describe a cat. Do not use any commas.", "reference": ["Soft, small, loud."]}]


def test_smol_answers_keep_the_code_judges_scores():
    from types import SimpleNamespace

    from harness.suites.smol.run import aggregate, judge_answers

    m = judge_answers(SimpleNamespace(judge="ifeval", ci_level=0.95), SMOL_ROWS, _completions(["Green park.", "Soft cat"]))
    shown = m["answers"]
    assert shown["preference"] == [1.0, 1.0] and shown["reasoning"] is None and shown["judge_kind"] == "code"
    assert shown["notes"][0] == "judge's score 1.00 (the reference answer's 0.00)"
    per_seed = [{**m, "seed": 0, "timings": {}, "generation": {}}]
    result = aggregate(per_seed, 0.95, [r["prompt"] for r in SMOL_ROWS], [r["reference"][0] for r in SMOL_ROWS])
    assert list(result.answers["seeds"][0]["outputs"]) == ["Green park.", "Soft cat"] and "answers" not in result.per_seed[0]


def test_smol_answers_keep_an_llm_judges_reasoning(scripted_proxy, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from harness.suites.smol.run import judge_answers

    proxy = scripted_proxy(default="Answer A follows the limit; B rambles. [[A]]")
    monkeypatch.setenv("OPENAI_BASE_URL", proxy.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    m = judge_answers(SimpleNamespace(judge="pairwise-verdict", ci_level=0.95), SMOL_ROWS,
                      _completions(["Green park.", "Soft cat"]))
    shown = m["answers"]
    assert shown["judge_kind"] == "llm" and shown["preference"] == [0.5, 0.5]  # A both times: a tie
    assert shown["reasoning"][0].startswith("[policy's answer as A] Answer A follows the limit")
    assert "[policy's answer as B]" in shown["reasoning"][0]
