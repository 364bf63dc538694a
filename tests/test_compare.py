"""`harness compare`: paired differences of records, board entries and loss files, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from outcome_records import outcome_tables, record_with_outcomes
from test_leaderboard_records import SUITE_CONFIG, make_record

from harness.cli import main
from harness.comparison import CompareError, compare_records, compare_specs
from harness.leaderboard.verify import record_filename


@pytest.fixture(scope="module")
def tables():
    return outcome_tables([0.84, 0.84, 0.30], seeds=3, prompts=128)


def test_a_loss_and_its_reverse_are_separated_and_a_loss_and_itself_are_not(tables):
    dpo, dpo2, rev = (record_with_outcomes(n, t) for n, t in zip(("dpo", "dpo2", "reversed"), tables, strict=True))
    far = compare_records(dpo, rev)
    assert far.separated and far.difference.low > 0.3 and "dpo is better than reversed" in far.verdict()
    same = compare_records(dpo, dpo2)
    assert not same.separated and "no detectable difference" in same.verdict()
    assert compare_records(dpo, dpo).difference.mean == 0.0


def test_a_comparison_states_its_resolution(tables):
    """The minimum detectable difference at the comparison's own noise is printed and in the JSON, and a
    verdict of no difference says how large a difference it could have seen."""
    from scipy.stats import norm

    from harness.comparison import format_comparison

    dpo, dpo2 = (record_with_outcomes(n, t) for n, t in zip(("dpo", "dpo2"), tables[:2], strict=True))
    c = compare_records(dpo, dpo2)
    d = c.difference
    assert c.resolution == pytest.approx(d.half_width + norm.ppf(0.80) * d.sem)
    assert c.resolution > d.high - d.mean > 0
    assert f"{100 * c.resolution:.1f} points or more are detected" in c.verdict()
    assert f"resolution: {100 * c.resolution:.1f} points" in format_comparison(c)
    assert c.as_dict()["minimum_detectable_difference"] == c.resolution


def test_json_fields(tables, tmp_path):
    a, b = (record_with_outcomes(n, t) for n, t in zip(("dpo", "reversed"), tables[[0, 2]], strict=True))
    for name, rec in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(rec))
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["paired"] is True and out["seeds"] == [0, 1, 2] and out["table"] == "verdict"
    assert out["difference_ci"][0] < out["difference"] < out["difference_ci"][1]
    assert out["a"]["name"] == "dpo" and out["b"]["name"] == "reversed"
    text = CliRunner().invoke(main, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert text.exit_code == 0 and "dpo is better than reversed" in text.output


def test_different_configs_prompts_or_no_outcomes_are_refused(tables):
    a = record_with_outcomes("dpo", tables[0])
    other_config = record_with_outcomes("ipo", tables[1], config={**SUITE_CONFIG, "prompts": 8})
    with pytest.raises(CompareError, match="different suite configs"):
        compare_records(a, other_config)
    with pytest.raises(CompareError, match="different prompt sets"):
        compare_records(a, record_with_outcomes("ipo", tables[1], prompts_sha="b" * 64))
    with pytest.raises(CompareError, match="no per-prompt outcomes.*re-run"):
        compare_records(a, make_record("old"))


def test_censored_seeds_are_not_compared_on_the_verdict_table(tables):
    a = record_with_outcomes("dpo", tables[0], seed_status=["measured", "censored", "measured"])
    b = record_with_outcomes("ipo", tables[1])
    c = compare_records(a, b)
    assert c.seeds == (0, 2) and c.dropped_seeds == (1,)
    assert compare_records(a, b, table="end").seeds == (0, 1, 2)
    none = record_with_outcomes("x", tables[1], seed_status=["censored"] * 3)
    with pytest.raises(CompareError, match="--table kl1"):
        compare_records(none, b)


def test_board_entries_by_name_or_sha_prefix(tables, tmp_path):
    recs = [record_with_outcomes(n, t) for n, t in zip(("dpo", "ipo"), tables[:2], strict=True)]
    (tmp_path / "records").mkdir()
    for r in recs:
        (tmp_path / "records" / record_filename(r)).write_text(json.dumps(r))
    c = compare_specs("dpo", recs[1]["loss"]["sha256"][:10], board_dir=tmp_path)
    assert (c.a.name, c.b.name) == ("dpo", "ipo")
    with pytest.raises(CompareError, match="no entry named"):
        compare_specs("nope", "dpo", board_dir=tmp_path)


def test_loss_files_run_on_the_other_sides_seeds(tables, tmp_path):
    a = record_with_outcomes("dpo", tables[0])
    (tmp_path / "a.json").write_text(json.dumps(a))
    loss = tmp_path / "ipo.py"
    loss.write_text("# a loss\n")
    calls = []

    def run(path, seeds):
        calls.append((path, seeds))
        return record_with_outcomes("ipo", tables[1])

    c = compare_specs(str(tmp_path / "a.json"), str(loss), run=run)
    assert calls == [(str(loss), 3)] and c.b.name == "ipo" and c.seeds == (0, 1, 2)


def test_loss_made_names_are_cleaned_in_the_verdict(tables):
    a = record_with_outcomes("dpo", tables[0])
    a["loss"]["name"] = "evil\x1b[2J\x07name"
    text = compare_records(a, record_with_outcomes("ipo", tables[2])).verdict()
    assert "\x1b" not in text and "\x07" not in text and "evilname" in text


def test_rows_null_in_one_record_are_dropped(tables):
    t = np.array(tables[0])
    t[2] = np.nan
    c = compare_records(record_with_outcomes("dpo", t), record_with_outcomes("ipo", tables[1]))
    assert c.seeds == (0, 1) and c.dropped_seeds == (2,)
