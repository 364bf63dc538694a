"""The regression comparison on synthetic records (no training): what counts as a regression."""

from __future__ import annotations

import json

import pytest

from harness.records import config_hash, validate_record
from harness.regression import (
    CIError,
    ComparisonConfig,
    ConfigMismatchError,
    compare,
    format_markdown,
    format_table,
    make_baseline,
    read_baseline,
    write_baseline,
)

FAKE_CONFIG = {"train": {"learning_rate": 2e-4, "steps": 128}, "beta": 0.1}


def make_record(win: float = 0.70, half: float = 0.03, *, name: str = "dpo", status: str = "ok",
                config: dict | None = None, seeds=(0, 1, 2), sha: str = "a" * 64, suite: str = "tiny",
                packages: dict | None = None) -> dict:
    """A schema-valid bench record whose win rates sit at ``win`` with CI half-width ``half``."""
    config = FAKE_CONFIG if config is None else config
    ok = status == "ok"
    metrics = {}
    if ok:
        for key, shift in (("win_rate", 0.0), ("win_rate_kl1", -0.05), ("win_rate_end", 0.02)):
            metrics[key] = win + shift
            metrics[f"{key}_ci"] = [win + shift - half, win + shift + half]
        metrics.update({"reward": 1.0, "reward_ci": [0.5, 1.5], "kl": 2.0, "censored": False, "censored_kl1": False})
    record = {
        "schema_version": 1, "kind": "bench", "status": status, "error": None if ok else "Traceback: boom",
        "created_at": "2026-01-01T00:00:00+00:00",
        "loss": {"name": name, "sha256": sha, "source": "builtin", "path": f"losses/{name}.py"},
        "suite": {"name": suite, "config_hash": config_hash(config), "config": config},
        "seeds": list(seeds), "beta": 0.1, "metrics": metrics,
        "per_seed": [{"seed": s, "win_rate": win, "trajectory": [{"step": 16, "kl": 1.0}]} for s in seeds] if ok else [],
        "judge": {"id": "gold-tiny", "hash": "h"}, "sandbox": {"backend": "none"},
        "provenance": {"harness_version": "0.1.0", "git_revision": None, "python": "3.11", "platform": "linux",
                       "hardware": {"machine": "x86_64", "cpus": 2}, "packages": packages or {"torch": "2.13.0"}},
        "timings": {"train": 1.0},
    }
    return validate_record(record)


def baseline_of(*records) -> dict:
    return make_baseline(list(records))


def verdicts(report) -> dict:
    return {(r.loss, r.metric): r.verdict for r in report.rows}


def test_identical_run_passes_and_every_win_rate_is_compared():
    report = compare(baseline_of(make_record()), [make_record()])
    assert set(verdicts(report)) == {("dpo", "win_rate"), ("dpo", "win_rate_kl1"), ("dpo", "win_rate_end")}
    assert set(verdicts(report).values()) == {"unchanged"}
    assert report.exit_code == 0
    assert report.rows[0].difference.mean == 0.0


def test_clear_drop_is_a_regression():
    report = compare(baseline_of(make_record(win=0.70)), [make_record(win=0.40)])
    assert set(verdicts(report).values()) == {"regression"}
    assert report.regressed and report.exit_code == 1
    row = report.rows[0]
    assert row.difference.high < -0.02 and row.difference.mean == pytest.approx(-0.30)


def test_drop_within_noise_passes():
    # a 0.03 drop with CI half-widths of 0.03 each: the difference CI (+-0.042) straddles zero
    report = compare(baseline_of(make_record(win=0.70)), [make_record(win=0.67)])
    assert set(verdicts(report).values()) == {"unchanged"}
    assert report.exit_code == 0


def test_tolerance_absorbs_a_significant_but_small_drop():
    base, now = make_record(win=0.70, half=0.005), make_record(win=0.68, half=0.005)
    assert compare(baseline_of(base), [now], ComparisonConfig(tolerance=0.0)).regressed
    assert not compare(baseline_of(base), [now], ComparisonConfig(tolerance=0.02)).regressed


def test_improvement_is_reported_and_passes():
    report = compare(baseline_of(make_record(win=0.50)), [make_record(win=0.80)])
    assert set(verdicts(report).values()) == {"improvement"}
    assert report.exit_code == 0
    assert "improvement" in format_table(report)


@pytest.mark.parametrize("status", ["crash", "error", "timeout"])
def test_failed_loss_run_is_a_regression(status):
    report = compare(baseline_of(make_record()), [make_record(status=status)])
    assert verdicts(report) == {("dpo", "status"): "failed"} and report.exit_code == 1
    assert f"{status}: Traceback: boom" in report.rows[0].note


def test_different_suite_config_is_refused_naming_the_field():
    other = {**FAKE_CONFIG, "train": {"learning_rate": 1e-3, "steps": 128}}
    with pytest.raises(ConfigMismatchError, match=r"train\.learning_rate \(0\.0002 -> 0\.001\).*--update-baseline"):
        compare(baseline_of(make_record()), [make_record(config=other)])
    with pytest.raises(ConfigMismatchError, match="suite 'tiny'"):
        compare(baseline_of(make_record()), [make_record(suite="other")])


def test_new_loss_is_listed_not_failed():
    report = compare(baseline_of(make_record(name="dpo")), [make_record(name="ipo")])
    assert verdicts(report) == {("ipo", "-"): "new"} and report.exit_code == 0


def test_notes_say_what_differs_from_the_baseline_machine():
    report = compare(baseline_of(make_record()), [make_record(sha="b" * 64, seeds=(0, 1),
                                                              packages={"torch": "2.14.0"})])
    text = " ".join(report.notes)
    assert "loss file changed" in text and "seeds [0, 1] differ" in text and "torch differs" in text


def test_baseline_round_trip_and_refusals(tmp_path):
    path = write_baseline(baseline_of(make_record(), make_record(name="ipo")), tmp_path / "b.json")
    baseline = read_baseline(path)
    assert sorted(baseline["losses"]) == ["dpo", "ipo"]
    assert baseline["suite"]["config_hash"] == config_hash(FAKE_CONFIG) and baseline["seeds"] == [0, 1, 2]
    assert "harness_version" in baseline and "torch" in baseline["packages"]
    assert "trajectory" not in baseline["losses"]["dpo"]["per_seed"][0]  # kept small for git
    with pytest.raises(CIError, match="does not exist.*--update-baseline"):
        read_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "bench"}))
    with pytest.raises(CIError, match="not a harness baseline"):
        read_baseline(tmp_path / "bad.json")
    with pytest.raises(CIError, match="failed runs"):
        make_baseline([make_record(status="crash")])


def test_markdown_summary_has_the_verdict_and_a_table():
    md = format_markdown(compare(baseline_of(make_record(win=0.7)), [make_record(win=0.3)]))
    assert md.startswith("## harness ci: :x: regression")
    assert "| dpo " in md and "REGRESSION" in md
