"""benchmarks/experiments/bench_discovery_efficiency.py with the fake evaluator: a finished search reused as a run
gives the same curve as running it, a reused record is not benched again, mismatched settings are refused."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_eff", ROOT / "benchmarks" / "experiments" / "bench_discovery_efficiency.py")
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


def test_rerun_in_the_same_folder_extends_the_search_and_rebenches_nothing(tmp_path, monkeypatch):
    _main(monkeypatch, "--budget", "8", "--out", tmp_path / "a")
    full = json.loads((tmp_path / "a" / "efficiency.json").read_text())["per_run"][0]
    _main(monkeypatch, "--budget", "4", "--out", tmp_path / "b")
    reeval = tmp_path / "b" / "evolve-0" / "reeval"
    before = {p.name: p.stat().st_mtime_ns for p in reeval.glob("*.json")}
    _main(monkeypatch, "--budget", "8", "--out", tmp_path / "b")  # as after a stop at 4 candidates
    resumed = json.loads((tmp_path / "b" / "efficiency.json").read_text())
    assert resumed["per_run"][0]["curve"] == full["curve"]
    assert resumed["records_reused"] >= 1
    assert all(p.stat().st_mtime_ns == before[p.name] for p in reeval.glob("*.json") if p.name in before)


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


def _cascade_module():
    spec = importlib.util.spec_from_file_location("bench_cascade", ROOT / "benchmarks" / "experiments" / "bench_discovery_cascade.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _InProcess:
    def __init__(self, max_workers):
        self.max_workers = max_workers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, *iterables):
        return map(fn, *iterables)


def test_cascade_from_run_samples_the_search_and_uses_its_bench_as_the_full_run(tmp_path, monkeypatch):
    from harness.discovery.archive import Archive
    from harness.discovery.config import DiscoveryConfig, EvalSettings

    run = tmp_path / "run"
    run.mkdir()
    archive = Archive(run / "archive.sqlite")
    archive.set_run("config", DiscoveryConfig(out_dir=str(run), proposer="evolve",
                                              eval=EvalSettings(suite="tiny", seeds=1)).as_dict())
    for i in range(9):
        cid = archive.add(parent_ids=(), proposer="evolve", name=f"c{i}", code=f"# {i}\n", sha256=str(i), code_key=str(i))
        if i == 4:
            archive.mark_duplicate(cid, duplicate_of=1, error="same", behaviour_key=None)
        elif i == 7:
            archive.complete(cid, status="unmeasured", error="no crossing", fitness=None, metrics={}, eval_seconds=30.0)
        else:
            archive.complete(cid, status="ok", error=None, fitness=0.5 + i / 100, metrics={}, eval_seconds=40.0)
    archive.close()
    module = _cascade_module()
    screened = []

    def fake_screen(path, suite, overrides, out):
        screened.append((Path(path).read_text(), overrides["train.steps"]))
        return {"screen_status": "ok", "stopped": "# 8" in Path(path).read_text(), "screen_s": 10.0}

    monkeypatch.setattr(module, "screen", fake_screen)
    monkeypatch.setattr(module, "ProcessPoolExecutor", _InProcess)
    rows, overrides, short = module.from_run(run, 3, tmp_path / "out", 2)
    assert [r["id"] for r in rows] == [1, 6, 9]  # evenly spaced over the 8 evaluated (the duplicate left out)
    assert [r["full_win_rate"] for r in rows] == [0.5, 0.55, 0.58]
    assert overrides == {} and short["train.steps"] < 128 and [t for _, t in screened] == [short["train.steps"]] * 3
    assert [r["stopped"] for r in rows] == [False, False, True]


def test_proposal_curves_leave_out_the_seed_population(tmp_path, monkeypatch):
    from harness.discovery.archive import Archive

    _main(monkeypatch, "--budget", "12", "--out", tmp_path / "a")
    result = json.loads((tmp_path / "a" / "efficiency.json").read_text())
    run = result["per_run"][0]
    archive = Archive(tmp_path / "a" / "evolve-0" / "archive.sqlite")
    done = [c for c in archive.all() if c.status != "duplicate"][:12]
    archive.close()
    own = [c for c in done if c.meta.get("operator") != "seed"]
    seeds = len(done) - len(own)
    assert seeds >= 1 and own
    assert run["proposed_best_search"][:seeds] == [None] * seeds  # only the seed population so far
    measured = [c.fitness for c in own if c.fitness is not None]
    assert run["proposed_best_search"][-1] == (max(measured) if measured else None)
    assert run["proposed_measured"][-1] == len(measured) / len(own)
    assert result["proposed_best_search"]["evolve"][-1]["runs"] == (1 if measured else 0)
    assert (tmp_path / "a" / "efficiency.png").stat().st_size > 0


@pytest.mark.parametrize("draw", ["normal", "beta"])
def test_the_interval_over_runs_covers_the_true_mean(draw):
    """3 runs per simulated bench, the true mean known: the 95% t interval over runs (clipped to [0, 1])
    covers it about 95% of the time; exactly in law for normal runs, and for skewed win rates
    (Beta(12, 3), mean 0.8) close to it."""
    import numpy as np

    band = _module().band
    rng = np.random.default_rng(7)
    sims, truth = 3000, 0.8
    covered = 0
    for _ in range(sims):
        runs = rng.normal(truth, 0.05, 3) if draw == "normal" else rng.beta(12, 3, 3)
        lo, hi = band([[float(v)] for v in runs])[0]["ci"]
        covered += lo <= truth <= hi
    rate = covered / sims
    assert (0.93 <= rate <= 0.97) if draw == "normal" else (0.91 <= rate <= 0.98), rate


def test_the_difference_between_proposers_covers_the_true_difference():
    """3 runs per proposer with known means (0.80 and 0.75, different spreads): the 95% Welch interval
    of the difference covers 0.05 about 95% of the time; identical runs give a zero-width interval."""
    import numpy as np

    difference = _module().difference_at_budget
    rng = np.random.default_rng(11)
    covered, sims = 0, 3000
    for _ in range(sims):
        runs = ([{"proposer": "evolve", "k": [float(v)]} for v in rng.normal(0.80, 0.03, 3)]
                + [{"proposer": "random", "k": [float(v)]} for v in rng.normal(0.75, 0.08, 3)])
        lo, hi = difference(runs, "k")["ci"]
        covered += lo <= 0.05 <= hi
    assert 0.93 <= covered / sims <= 0.975, covered / sims
    flat = [{"proposer": p, "k": [0.8]} for p in ("evolve", "random") for _ in range(3)]
    assert difference(flat, "k") == {"difference": 0.0, "ci": [0.0, 0.0], "p_value": None, "runs": [3, 3]}
    assert difference(flat[:1] + flat[3:], "k") is None
