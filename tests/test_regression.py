"""The regression comparison on synthetic records (no training): what counts as a regression."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.validation.simulation import NoiseModel, simulate
from harness.records import RECORD_SCHEMA_VERSION, config_hash, validate_record
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
from harness.stats.crossed import win_rate_ci

FAKE_CONFIG = {"train": {"learning_rate": 2e-4, "steps": 128}, "beta": 0.1}


def make_record(win: float = 0.70, *, name: str = "dpo", status: str = "ok", config: dict | None = None,
                seeds=(0, 1, 2), sha: str = "a" * 64, suite: str = "tiny", packages: dict | None = None,
                rng_seed: int = 0, seed_sd: float = 0.01, revision: str | None = None, outcomes: bool = True) -> dict:
    """A schema-valid bench record whose per-prompt outcomes are simulated around true win rate ``win``
    (the same ``rng_seed`` gives the same noise, so two runs differ only by their win rates)."""
    config = FAKE_CONFIG if config is None else config
    ok = status == "ok"
    tables = simulate([win, win - 0.05], NoiseModel(seed_sd=seed_sd), len(seeds), 64, 1,
                      np.random.default_rng(rng_seed))[0]
    metrics = {}
    if ok:
        est = win_rate_ci(tables[0])
        metrics = {"win_rate": est.mean, "win_rate_ci": [est.low, est.high], "kl": 2.0, "censored": False}
    record = {
        "schema_version": RECORD_SCHEMA_VERSION, "kind": "bench", "status": status,
        "error": None if ok else "Traceback: boom", "created_at": "2026-01-01T00:00:00+00:00",
        "loss": {"name": name, "sha256": sha, "source": "builtin", "path": f"losses/{name}.py"},
        "suite": {"name": suite, "config_hash": config_hash(config), "config": config},
        "seeds": list(seeds), "beta": 0.1, "metrics": metrics,
        "per_seed": [{"seed": s, "win_rate": win, "trajectory": [{"step": 16, "kl": 1.0}]} for s in seeds] if ok else [],
        "judge": {"id": "gold-tiny", "hash": "h"}, "sandbox": {"backend": "none"},
        "provenance": {"harness_version": "0.1.0", "git_revision": revision, "python": "3.11", "platform": "linux",
                       "hardware": {"machine": "x86_64", "cpus": 2}, "packages": packages or {"torch": "2.13.0"}},
        "timings": {"train": 1.0}, "outcomes": None,
    }
    if ok and outcomes:
        rows = [[round(float(x), 4) for x in row] for row in tables[0]]
        record["outcomes"] = {"prompts_sha256": "p" * 64, "primary": "verdict", "seed_status": ["measured"] * len(seeds),
                              "tables": {"verdict": rows, "kl1": [[round(float(x), 4) for x in r] for r in tables[1]],
                                         "end": rows, "reference": [[0.5] * 64] * len(seeds)}}
    return validate_record(record)


def baseline_of(*records) -> dict:
    return make_baseline(list(records))


def verdicts(report) -> dict:
    return {(r.loss, r.metric): r.verdict for r in report.rows}


def test_identical_run_passes_one_table_is_gated_and_the_others_reported():
    report = compare(baseline_of(make_record()), [make_record()])
    assert verdicts(report) == {("dpo", "verdict"): "unchanged", ("dpo", "end"): "reported", ("dpo", "kl1"): "reported"}
    assert report.exit_code == 0 and report.rows[0].difference.mean == 0.0
    assert [r.as_dict()["gated"] for r in report.rows] == [True, False, False]


def test_clear_drop_is_a_regression():
    report = compare(baseline_of(make_record(win=0.70)), [make_record(win=0.40)])
    assert verdicts(report)[("dpo", "verdict")] == "regression"
    assert report.regressed and report.exit_code == 1
    row = report.rows[0]
    assert row.difference.high < 0 and row.difference.mean == pytest.approx(-0.30, abs=0.03)


def test_drop_within_noise_passes():
    # a fresh set of seeds with seed SD 0.05: a 1-point drop is well inside the noise
    report = compare(baseline_of(make_record(win=0.70, seed_sd=0.05, rng_seed=1)),
                     [make_record(win=0.69, seed_sd=0.05, rng_seed=2)])
    assert verdicts(report)[("dpo", "verdict")] == "unchanged" and report.exit_code == 0


def test_tolerance_absorbs_a_significant_but_small_drop():
    seeds = (0, 1, 2, 3, 4)
    base, now = make_record(win=0.70, seed_sd=0.0, seeds=seeds), make_record(win=0.64, seed_sd=0.0, seeds=seeds)
    assert compare(baseline_of(base), [now], ComparisonConfig(tolerance=0.0)).regressed
    assert not compare(baseline_of(base), [now], ComparisonConfig(tolerance=0.1)).regressed


def test_report_states_the_minimum_detectable_drop():
    seeds = (0, 1, 2, 3, 4)
    report = compare(baseline_of(make_record(seeds=seeds, seed_sd=0.02, rng_seed=1)),
                     [make_record(seeds=seeds, seed_sd=0.02, rng_seed=2)])
    row = report.rows[0]
    assert row.detectable_drop > row.difference.half_width and 0.01 < row.detectable_drop < 0.2
    assert "detectable drop" in format_table(report)


def test_several_losses_are_gated_with_bonferroni():
    report = compare(baseline_of(make_record(), make_record(name="ipo")), [make_record(), make_record(name="ipo")])
    assert report.level == pytest.approx(0.975) and any("Bonferroni" in n for n in report.notes)


def test_improvement_is_reported_and_passes():
    report = compare(baseline_of(make_record(win=0.50)), [make_record(win=0.80)])
    assert verdicts(report)[("dpo", "verdict")] == "improvement"
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
    assert "per_seed" not in baseline["losses"]["dpo"] and baseline["losses"]["dpo"]["outcomes"]["tables"]["verdict"]
    with pytest.raises(CIError, match="does not exist.*--update-baseline"):
        read_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "bench"}))
    with pytest.raises(CIError, match="not a harness baseline"):
        read_baseline(tmp_path / "bad.json")
    with pytest.raises(CIError, match="failed runs"):
        make_baseline([make_record(status="crash")])
    with pytest.raises(CIError, match="no per-prompt outcomes"):
        make_baseline([make_record(outcomes=False)])
    with pytest.raises(CIError, match="at least 3.*--seeds 14"):
        make_baseline([make_record(seeds=(0, 1))])
    with pytest.raises(CIError, match="uncommitted changes"):
        make_baseline([make_record(revision="abc+dirty")])
    assert make_baseline([make_record(revision="abc+dirty")], allow_dirty=True)["losses"]
    old = {**baseline, "schema_version": 1}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(CIError, match="regenerate it with --update-baseline"):
        read_baseline(tmp_path / "old.json")


def test_markdown_summary_has_the_verdict_and_a_table():
    md = format_markdown(compare(baseline_of(make_record(win=0.7)), [make_record(win=0.3)]))
    assert md.startswith("## harness ci: :x: regression")
    assert "| dpo " in md and "REGRESSION" in md


def test_update_baseline_in_a_dirty_checkout_is_refused_before_any_training(tmp_path, monkeypatch):
    """The dirty-checkout refusal comes before minutes of training, not after them."""
    import harness.regression as regression

    def no_training(*args, **kwargs):
        raise AssertionError("trained before refusing a dirty checkout")

    monkeypatch.setattr(regression, "git_revision", lambda: "abc+dirty")
    monkeypatch.setattr(regression, "_run_losses", no_training)
    cfg = regression.CIConfig(baseline=tmp_path / "b.json", losses=("losses/dpo.py",), update=True)
    with pytest.raises(CIError, match=r"uncommitted changes \(abc\+dirty\).*--allow-dirty"):
        regression.run_ci(cfg)
    assert not (tmp_path / "b.json").exists()
    monkeypatch.setattr(regression, "_run_losses", lambda *a, **k: [])  # --allow-dirty goes on to the runs
    with pytest.raises(CIError, match="at least one loss"):
        regression.run_ci(regression.CIConfig(baseline=tmp_path / "b.json", losses=("losses/dpo.py",),
                                              update=True, allow_dirty=True))


def test_provenance_notes_compare_with_the_baseline_run_not_the_file_writer():
    """The baseline file's own provenance is taken when it is written, without the run's CPU policy: the
    notes compare the run with the baseline run's record, so the same machine gives no hardware note."""
    import copy

    from harness.regression import _provenance_notes

    record = make_record()
    record["provenance"]["hardware"] = {"machine": "x86_64", "cpus": 2, "cpu_policy": {"seed_processes": 2}}
    baseline = make_baseline([copy.deepcopy(record)])
    baseline["provenance"]["hardware"] = {"machine": "x86_64", "cpus": 2}  # as the file writer sees it
    assert not any("hardware" in n for n in _provenance_notes(baseline, [record]))
    other = copy.deepcopy(record)
    other["provenance"]["hardware"]["cpus"] = 16
    assert any(n.startswith("hardware differs") for n in _provenance_notes(baseline, [other]))
