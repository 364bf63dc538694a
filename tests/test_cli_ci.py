"""`harness ci` end to end with the bench replaced by synthetic records: exit codes and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_regression import make_record

from harness import regression
from harness.cli import main


@pytest.fixture(scope="module")
def tiny_config() -> dict:
    from harness.suites import get_suite

    return get_suite("tiny").config.as_dict()


@pytest.fixture(autouse=True)
def clean_checkout(monkeypatch):
    """The checkout these synthetic runs come from is clean, whatever the state of the one running the
    tests (--update-baseline refuses a dirty checkout before it trains)."""
    monkeypatch.setattr(regression, "git_revision", lambda: "0" * 40)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dpo.py").write_text("def loss(beta): ...\n")
    return tmp_path


def fake_bench(monkeypatch, config: dict, win: float = 0.7, **kwargs) -> list:
    calls = []

    def bench(loss_path, **kw):
        calls.append((loss_path, kw))
        return make_record(win=win, config=config, seeds=tuple(range(kw.get("seeds", 5))), **kwargs)

    monkeypatch.setattr(regression, "_bench", bench)
    # the checkout the fake runs come from: the early dirty-checkout refusal reads the same revision
    monkeypatch.setattr(regression, "git_revision", lambda: kwargs.get("revision"))
    return calls


def ci(*args):
    return CliRunner().invoke(main, ["ci", *args])


def test_update_then_unchanged_run_passes_with_table_summary_and_json(workdir, monkeypatch, tiny_config):
    calls = fake_bench(monkeypatch, tiny_config)
    made = ci("--loss", "dpo.py", "--baseline", "base/tiny.json", "--update-baseline", "--seeds", "3")
    assert made.exit_code == 0, made.output
    assert json.loads((workdir / "base/tiny.json").read_text())["losses"]["dpo"]["loss"]["path"] == "dpo.py"

    # no --loss: the losses and the seed count come from the baseline
    result = ci("--baseline", "base/tiny.json", "--summary", "summary.md", "--report", "out/report.json")
    assert result.exit_code == 0, result.output
    assert calls[-1][0] == "dpo.py" and calls[-1][1]["seeds"] == 3 and calls[-1][1]["out_dir"] is None
    assert ci("--baseline", "base/tiny.json", "--out", "runs").exit_code == 0  # the records also go to runs/
    assert calls[-1][1]["out_dir"] == Path("runs")
    assert "PASS: nothing regressed" in result.output and "kl1" in result.output
    assert "nothing regressed" in (workdir / "summary.md").read_text()
    report = json.loads((workdir / "out/report.json").read_text())
    assert report["result"] == "pass" and report["exit_code"] == 0 and len(report["rows"]) == 3


def test_regression_exits_1(workdir, monkeypatch, tiny_config):
    fake_bench(monkeypatch, tiny_config, win=0.7)
    assert ci("--loss", "dpo.py", "--baseline", "b.json", "--update-baseline").exit_code == 0
    fake_bench(monkeypatch, tiny_config, win=0.2)
    result = ci("--loss", "dpo.py", "--baseline", "b.json", "--report", "r.json")
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output
    assert json.loads((workdir / "r.json").read_text())["result"] == "regression"
    as_json = ci("--loss", "dpo.py", "--baseline", "b.json", "--json")  # --json: the report on stdout, as everywhere
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["result"] == "regression"


def test_failed_loss_run_exits_1(workdir, monkeypatch, tiny_config):
    fake_bench(monkeypatch, tiny_config)
    assert ci("--loss", "dpo.py", "--baseline", "b.json", "--update-baseline").exit_code == 0
    fake_bench(monkeypatch, tiny_config, status="timeout")
    result = ci("--baseline", "b.json")
    assert result.exit_code == 1 and "FAILED" in result.output


def test_baseline_from_another_suite_config_is_refused_before_training(workdir, monkeypatch, tiny_config):
    other = {**tiny_config, "beta": 0.25}  # any beta but the suite's
    regression.write_baseline(regression.make_baseline([make_record(config=other)]), workdir / "old.json")
    calls = fake_bench(monkeypatch, tiny_config)
    result = ci("--loss", "dpo.py", "--baseline", "old.json")
    assert result.exit_code == 2
    assert f"beta (0.25 -> {tiny_config['beta']})" in result.output and "--update-baseline" in result.output
    assert calls == []


def test_missing_baseline_exits_2(workdir, monkeypatch, tiny_config):
    calls = fake_bench(monkeypatch, tiny_config)
    result = ci("--loss", "dpo.py", "--baseline", "nope.json")
    assert result.exit_code == 2 and "does not exist" in result.output and calls == []


@pytest.mark.parametrize("args, message", [
    (["--loss", "dpo.py", "--losses", "dpo.py", "--baseline", "b.json"], "not both"),
    (["--baseline", "b.json", "--update-baseline"], "needs the losses"),
    (["--loss", "missing.py", "--baseline", "b.json", "--update-baseline"], "does not exist"),
    (["--loss", "dpo.py", "--baseline", "b.json", "--update-baseline", "--suite", "tinny"], "Did you mean 'tiny'"),
    (["--loss", "dpo.py", "--baseline", "b.json", "--update-baseline", "--seeds", "0"], "at least 1"),
])
def test_usage_errors_exit_2(workdir, monkeypatch, tiny_config, args, message):
    fake_bench(monkeypatch, tiny_config)
    result = ci(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_harness_crash_exits_2_not_1(workdir, monkeypatch, tiny_config):
    fake_bench(monkeypatch, tiny_config)
    assert ci("--loss", "dpo.py", "--baseline", "b.json", "--update-baseline").exit_code == 0

    def crash(loss_path, **kw):
        raise RuntimeError("suite cache unreadable")

    monkeypatch.setattr(regression, "_bench", crash)
    result = ci("--baseline", "b.json")
    assert result.exit_code == 2 and "not a regression" in result.output


def test_bench_usage_error_exits_2(workdir, monkeypatch):
    import harness.bench

    def refuse(loss_path, **kw):
        raise harness.bench.BenchUsageError("bad suite override: unknown config field 'x'")

    monkeypatch.setattr(harness.bench, "run_bench", refuse)
    result = ci("--loss", "dpo.py", "--baseline", "b.json", "--update-baseline")
    assert result.exit_code == 2 and "harness ci: error: bad suite override" in result.output
    assert "Traceback" not in result.output


def test_update_baseline_defaults_to_the_powered_seed_count(workdir, monkeypatch, tiny_config):
    calls = fake_bench(monkeypatch, tiny_config)
    assert ci("--loss", "dpo.py", "--baseline", "b.json", "--update-baseline").exit_code == 0
    assert calls[-1][1]["seeds"] == regression.DEFAULT_SEEDS == 14
    assert json.loads((workdir / "b.json").read_text())["schema_version"] == 2
