"""benchmarks/bench_discovery_efficiency.py with the fake evaluator: a finished search reused as a run
gives the same curve as running it, a reused record is not benched again, mismatched settings are refused."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_eff", ROOT / "benchmarks" / "bench_discovery_efficiency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["bench_discovery_efficiency.py", "--evaluator", "fake", "--runs", "1",
                                      "--proposers", "evolve", *map(str, argv)])
    _module().main()


def test_reused_search_gives_the_same_curve_and_records_are_reused(tmp_path, monkeypatch):
    _main(monkeypatch, "--budget", "8", "--out", tmp_path / "a")
    full = json.loads((tmp_path / "a" / "efficiency.json").read_text())
    _main(monkeypatch, "--budget", "5", "--out", tmp_path / "b", "--reuse", f"evolve:0={tmp_path / 'a' / 'evolve-0'}",
          "--records", tmp_path / "a" / "evolve-0" / "reeval")
    part = json.loads((tmp_path / "b" / "efficiency.json").read_text())
    run_full, run_part = full["per_run"][0], part["per_run"][0]
    assert run_part["curve"] == run_full["curve"][:5]
    assert run_part["reused"].endswith("evolve-0")
    assert part["records_reused"] == run_part["reevaluated"] >= 1
    assert not (tmp_path / "b" / "evolve-0" / "reeval").exists()  # nothing benched again


def test_reuse_with_other_settings_is_refused(tmp_path, monkeypatch):
    _main(monkeypatch, "--budget", "4", "--out", tmp_path / "a")
    module = _module()
    config = module.run_config(tmp_path / "x", "evolve", 1, type("A", (), {"budget": 4, "parallel": 1, "suite": "tiny",
                                                                           "evaluator": "fake"})(), {})
    with pytest.raises(ValueError, match="differ"):
        module.reused_archive(tmp_path / "a" / "evolve-0", config)
    config = module.run_config(tmp_path / "x", "evolve", 0, type("A", (), {"budget": 9, "parallel": 1, "suite": "tiny",
                                                                           "evaluator": "fake"})(), {})
    with pytest.raises(ValueError, match="fewer than --budget"):
        module.reused_archive(tmp_path / "a" / "evolve-0", config)
