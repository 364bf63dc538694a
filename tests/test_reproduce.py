"""Reproducibility: the lock file, the shipped tiny artifacts and their fingerprint, `harness reproduce`'s
seed-by-seed classification, and (slow) the same seed giving the same record in two fresh processes."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from harness import environment
from harness.reproduce import (
    DIFFERENT,
    IDENTICAL,
    WITHIN,
    ReproduceError,
    compare_seed,
    environment_differences,
    suite_overrides,
)
from harness.suites import cache, get_suite

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ the lock


def test_lock_pins_every_dependency_with_hashes():
    pins = environment.lock_pins()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("=")[0].split("[")[0].strip() for d in
             deps["dependencies"] + deps["optional-dependencies"]["dev"]]
    missing = [n for n in names if environment._normalise(n) not in pins]
    assert not missing, f"pyproject dependencies missing from locks/cpu.txt: {missing}; run scripts/lock.sh"
    assert pins["torch"].endswith("+cpu")  # the CPU build, never a CUDA one
    lines = (ROOT / "locks" / "cpu.txt").read_text().splitlines()
    for i, line in enumerate(lines):
        if environment._PIN.match(line):
            assert line.rstrip().endswith("\\") and "--hash=sha256:" in lines[i + 1], f"{line}: no hash"


def test_every_extra_lock_agrees_with_the_cpu_lock():
    base = environment.lock_pins()
    for path in sorted((ROOT / "locks").glob("*.txt")):
        if path.stem in ("gpu", "vllm-cpu"):  # environments of their own, resolved apart by design
            continue
        other = environment.lock_pins(path.name)
        moved = {k: (base[k], v) for k, v in other.items() if k in base and base[k] != v}
        assert not moved, f"{path.name} moves versions of the CPU lock: {moved}"


def test_lock_mismatch_is_named(monkeypatch):
    real = environment.importlib.metadata.version

    def fake(name):
        return "0.0.1" if name == "tabulate" else real(name)

    environment.lock_mismatches.cache_clear()
    monkeypatch.setattr(environment.importlib.metadata, "version", fake)
    try:
        mism = environment.lock_mismatches()
        assert any(m.startswith("tabulate: locked ") and m.endswith("installed 0.0.1") for m in mism)
    finally:
        environment.lock_mismatches.cache_clear()


def test_record_provenance_names_the_lock_and_determinism():
    from harness.records import provenance

    prov = provenance()
    assert prov["lock"]["sha256"] == environment.lock_digest() and len(prov["lock"]["sha256"]) == 64
    assert set(prov["determinism"]) == {"use_deterministic_algorithms", "isa"}
    assert prov["hardware"]["cpu_model"] == environment.cpu_model() and prov["hardware"]["cpu_model"] != "unknown"


def test_the_default_tolerance_is_zero_on_the_records_cpu_and_the_cross_cpu_one_elsewhere():
    from harness.reproduce import CROSS_CPU_TOLERANCE, REPRODUCTION_TOLERANCE, default_tolerance

    here = _record([0.8], [[1.0]], isa=environment.cpu_isa())
    here["provenance"]["hardware"]["cpu_model"] = environment.cpu_model()
    tol, why = default_tolerance(here)
    assert tol == REPRODUCTION_TOLERANCE == 0.0 and "is this one" in why
    other_isa = _record([0.8], [[1.0]], isa="SSE2")
    other_isa["provenance"]["hardware"]["cpu_model"] = environment.cpu_model()
    other_model = copy.deepcopy(here)
    other_model["provenance"]["hardware"]["cpu_model"] = "Other\x1b[2Jcpu"  # a submitter's text: cleaned
    unstated = _record([0.8], [[1.0]], isa=environment.cpu_isa())  # made before the model was recorded
    for rec in (other_isa, other_model, unstated):
        tol, why = default_tolerance(rec)
        assert tol == CROSS_CPU_TOLERANCE == 0.001 and "not known to be this one" in why and "\x1b" not in why
    assert "model not recorded" in default_tolerance(unstated)[1]


# ------------------------------------------------------------------ shipped artifacts


def test_default_tiny_build_ships_with_its_fingerprint():
    suite = get_suite("tiny")
    shipped, expected = suite.shipped()
    assert shipped is not None and expected is not None, (
        f"the default tiny build {suite.build_hash()} is not shipped: see harness/suites/tiny/shipped/README.md")
    cache.verify(shipped)
    assert cache.fingerprint(shipped) == expected


def _sealed(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    cache.seal(folder)
    return folder


def test_shipped_artifacts_are_copied_not_built(tmp_path):
    shipped = _sealed(tmp_path / "ship" / "x-1", {"a.json": "1", "b.json": "2"})
    expected = cache.fingerprint(shipped)

    def build(_):
        raise AssertionError("a shipped build hash must never be rebuilt")

    folder = cache.ensure(tmp_path / "cache" / "x-1", build, shipped=shipped, expected=expected)
    assert (folder / "a.json").read_text() == "1" and cache.fingerprint(folder) == expected


def test_other_artifacts_under_a_shipped_hash_are_refused_naming_the_file(tmp_path):
    shipped = _sealed(tmp_path / "ship" / "x-1", {"a.json": "1", "b.json": "2"})
    local = _sealed(tmp_path / "cache" / "x-1", {"a.json": "1", "b.json": "2.0001"})  # a rebuild elsewhere
    with pytest.raises(cache.ArtifactMismatch, match=r"differing files: b\.json.*rm -rf"):
        cache.ensure(local, lambda _: None, shipped=shipped, expected=cache.fingerprint(shipped))


def test_a_corrupted_cache_is_replaced_from_the_shipped_copy(tmp_path):
    shipped = _sealed(tmp_path / "ship" / "x-1", {"a.json": "1"})
    local = _sealed(tmp_path / "cache" / "x-1", {"a.json": "1"})
    (local / "a.json").write_text("tampered")
    folder = cache.ensure(local, lambda _: None, shipped=shipped, expected=cache.fingerprint(shipped),
                          log=lambda _: None)
    assert (folder / "a.json").read_text() == "1"


# ------------------------------------------------------------------ reproduce: classification


def _record(wins, rows, status="ok", **prov):
    seeds = list(range(len(wins)))
    return {
        "status": status, "seeds": seeds, "beta": 0.1,
        "per_seed": [{"seed": s, "win_rate": w, "seconds": 1.0 + s} for s, w in zip(seeds, wins, strict=True)],
        "outcomes": {"primary": "verdict", "tables": {"verdict": rows}},
        "suite": {"name": "tiny", "artifacts": {"fingerprint": prov.get("artifacts", "f1")}},
        "provenance": {"lock": {"sha256": prov.get("lock", "l1"), "mismatches": []}, "platform": "p",
                       "python": "3.11", "determinism": {"isa": prov.get("isa", "AVX512"),
                                                         "use_deterministic_algorithms": True},
                       "hardware": {}, "packages": prov.get("packages", {"torch": "2.13.0+cpu"})},
    }


def test_identical_seed_ignores_timings():
    rec = _record([0.8, None], [[1.0, 0.5], None])
    rerun = copy.deepcopy(rec)
    rerun["per_seed"][0]["seconds"] = 99.0
    assert compare_seed(rec, rerun, 0, 0.0).verdict == IDENTICAL


def test_prompt_differences_are_counted_and_tolerance_applies():
    rec = _record([0.80], [[1.0, 0.5, 0.0]])
    rerun = _record([0.81], [[1.0, 0.75, 0.0]])
    exact = compare_seed(rec, rerun, 0, 0.0)
    assert exact.verdict == DIFFERENT and exact.prompts_differing == 1 and exact.max_prompt_difference == 0.25
    assert compare_seed(rec, rerun, 0, 0.02).verdict == WITHIN


def test_censoring_on_one_side_or_both_proves_nothing():
    rec = _record([None], [None])
    assert compare_seed(rec, _record([0.8], [[1.0]]), 0, 1.0).verdict == DIFFERENT  # censored vs measured
    both = _record([None], [None])
    both["per_seed"][0]["kl"] = 0.3  # censored in both, but another trajectory
    rec["per_seed"][0]["kl"] = 0.4
    assert compare_seed(rec, both, 0, 1.0).verdict == DIFFERENT


def test_another_status_is_different():
    rec = _record([0.8], [[1.0]])
    failed = dict(_record([0.8], [[1.0]]), status="crash")
    assert compare_seed(rec, failed, 0, 1.0).verdict == DIFFERENT


def test_environment_differences_name_the_causes():
    a = _record([0.8], [[1.0]])
    b = _record([0.8], [[1.0]], lock="l2", isa="AVX2", artifacts="f2", packages={"torch": "2.14.0"})
    b["provenance"]["hardware"]["cpu_model"] = "AuthenticAMD AMD EPYC (family 25 model 1 stepping 1)"
    diffs = environment_differences(a, b)
    for word in ("lock", "suite artifacts", "CPU instruction set", "CPU model", "package torch"):
        assert any(d.startswith(word) for d in diffs), (word, diffs)


def test_suite_overrides_rebuild_the_records_config():
    suite = get_suite("tiny").with_overrides({"train.steps": 64, "eval.resamples": 100})
    record = {"suite": {"name": "tiny", "config": json.loads(json.dumps(suite.config.as_dict())),
                        "config_hash": suite.config_hash()}, "provenance": {}}
    assert suite_overrides(record) == {"train.steps": 64, "eval.resamples": 100}
    record["suite"]["config_hash"] = "0" * 16
    with pytest.raises(ReproduceError, match="rebuilds to hash"):
        suite_overrides(record)
    record["suite"]["config"]["train"]["invented"] = 1
    with pytest.raises(ReproduceError, match="fields this harness lacks: train.invented"):
        suite_overrides(record)


# ------------------------------------------------------------------ slow: two fresh processes

MICRO = ["--set", "data.train_prompts=64", "--set", "data.eval_prompts=8", "--set", "data.pairs=32",
         "--set", "sft.steps=20", "--set", "sft.batch_size=16", "--set", "sft.warmup_steps=5",
         "--set", "train.steps=4", "--set", "train.batch_size=8", "--set", "train.checkpoint_every=2",
         "--set", "eval.resamples=100"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_same_seed_same_record_in_two_fresh_processes_and_reproduce_says_identical(tmp_path):
    env = dict(os.environ, HARNESS_HOME=str(tmp_path / "home"))
    harness = [sys.executable, "-m", "harness.cli"]

    def bench(out):
        subprocess.run(harness + ["bench", "--loss", str(ROOT / "losses" / "dpo.py"), "--seeds", "2", "--out",
                                  str(out), *MICRO], env=env, check=True, capture_output=True)
        (path,) = Path(out).glob("*.json")
        return path, json.loads(path.read_text())

    path_a, a = bench(tmp_path / "a")
    _, b = bench(tmp_path / "b")
    assert a["per_seed"] == b["per_seed"] and a["outcomes"] == b["outcomes"] and a["metrics"] == b["metrics"]
    assert a["provenance"]["determinism"]["use_deterministic_algorithms"] is True
    out = subprocess.run(harness + ["reproduce", str(path_a), "--quiet", "--report", str(tmp_path / "r.json")],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "IDENTICAL" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == IDENTICAL and report["tolerance"] == 0.0 and "is this one" in report["tolerance_basis"]
    # a seed that differs: the claimed win rate is moved; reproduce exits 1 and says where
    forged = copy.deepcopy(a)
    forged["per_seed"][1]["win_rate"] = (forged["per_seed"][1]["win_rate"] or 0.5) + 0.1
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    out = subprocess.run(harness + ["reproduce", str(tmp_path / "forged.json"), "--seeds", "1", "--quiet"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "DIFFERENT" in out.stdout, out.stdout + out.stderr


def test_a_given_run_is_compared_without_training_and_must_be_a_rerun_of_the_record(tmp_path):
    """`reproduce --against RUN` (the CI's reproduction check on the regression check's run): the same
    comparison, nothing trained; a run of other loss bytes, config or beta, or without the seeds, is refused."""
    from click.testing import CliRunner

    from harness.cli import main
    from harness.reproduce import ReproduceError, reproduce

    def run(wins, rows, **kw):
        r = _record(wins, rows, **kw)
        r.update(loss={"name": "dpo", "sha256": "a" * 64, "source": "x"}, beta=0.5)
        r["suite"]["config_hash"] = "c1"
        return r

    rec = run([0.8, 0.6], [[1.0, 0.5], [0.5, 0.5]])
    same = copy.deepcopy(rec)
    rep = reproduce(rec, rerun=same)
    assert rep.verdict == IDENTICAL and not rep.made_here and [s.seed for s in rep.seeds] == [0, 1]
    moved = run([0.8, 0.7], [[1.0, 0.5], [0.5, 0.75]])
    assert reproduce(rec, rerun=moved).verdict == DIFFERENT and reproduce(rec, rerun=moved, seeds=[0]).verdict == IDENTICAL
    for field, value in (("loss", {"name": "dpo", "sha256": "b" * 64}), ("beta", 0.1)):
        other = dict(copy.deepcopy(rec), **{field: value})
        with pytest.raises(ReproduceError, match="not a re-run of this record"):
            reproduce(rec, rerun=other)
    one_seed = run([0.8], [[1.0, 0.5]])
    with pytest.raises(ReproduceError, match=r"has no seed \[1\]"):
        reproduce(rec, rerun=one_seed)
    (tmp_path / "rec.json").write_text(json.dumps(rec))
    (tmp_path / "run.json").write_text(json.dumps(moved))
    out = CliRunner().invoke(main, ["reproduce", str(tmp_path / "rec.json"), "--against", str(tmp_path / "run.json"),
                                    "--quiet"])
    assert out.exit_code == 1 and "DIFFERENT (2 seed(s) compared with the given run)" in out.output, out.output
