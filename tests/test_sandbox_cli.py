"""The sandbox's second wall seen from the command line: a hostile reply or a lying exit is a
``sandbox_violation``/crash verdict with strict JSON (never a traceback or ``Infinity``), and any legal
file name can be checked and benchmarked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.bench import bench_and_store, run_bench
from harness.cli import main
from harness.records import validate_record

ATTACKS = Path(__file__).parent / "sandbox_attacks"
LONG_NAME = ("Lösung mit Länge ✓ " * 20).encode()[:248].decode("utf-8", "ignore") + " ü.py"
MICRO = {
    "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
    "sft.warmup_steps": 5, "train.steps": 2, "train.batch_size": 8, "train.checkpoint_every": 2,
    "eval.resamples": 100,
}  # fmt: skip


@pytest.fixture(autouse=True)
def jail(tmp_path, monkeypatch):
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def _variant(tmp_path: Path, name: str, variant: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text((ATTACKS / f"{name}.py").read_text().replace("@VARIANT@", variant))
    return path


def _check_json(path: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["check", "--json", "--loss", str(path)])
    assert "Traceback" not in result.output
    # strict JSON: NaN / Infinity would be refused by this hook
    report = json.loads(result.output, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    return result.exit_code, report


@pytest.mark.parametrize("variant", ["huge_int", "dtype_list", "deep_nesting", "invalid_utf8", "truncated"])
def test_check_reports_a_malformed_reply_as_a_violation_in_clean_json(tmp_path, variant):
    code, report = _check_json(_variant(tmp_path, "malformed_reply", variant))
    assert code == 1 and report["valid"] is False
    assert any(e.startswith("sandbox_violation:") for e in report["errors"]), report["errors"]


def test_check_does_not_take_a_chosen_exit_code_for_a_seccomp_kill(tmp_path):
    code, report = _check_json(_variant(tmp_path, "lying_exit", "159"))
    assert code == 1
    assert any("exited unexpectedly with code 159" in e for e in report["errors"]), report["errors"]
    assert not any("seccomp" in e for e in report["errors"])


def test_check_and_bench_accept_any_legal_file_name(tmp_path):
    path = tmp_path / LONG_NAME
    assert len(path.name.encode()) <= 255
    path.write_bytes((ATTACKS / "long_name.py").read_bytes())
    code, report = _check_json(path)
    assert code == 0 and report["valid"], report["errors"]
    stored = bench_and_store(path, seeds=1, out_dir=tmp_path / "out", progress=False, overrides=MICRO)
    record = stored.record
    assert record["status"] == "ok", record["error"]
    assert Path(stored.path).exists() and record["loss"]["name"] == path.stem
    validate_record(record)


def test_bench_records_a_malformed_reply_as_a_candidate_violation(tmp_path):
    record = run_bench(_variant(tmp_path, "malformed_reply", "huge_int"), seeds=1, progress=False,
                       overrides=MICRO)  # fmt: skip
    assert record["status"] == "sandbox_violation", record["error"]
    assert "wire protocol" in record["error"]
    validate_record(record)
