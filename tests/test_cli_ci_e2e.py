"""`harness ci` with real tiny-suite training (slow tier): a loss made worse on purpose is caught with
exit code 1 against the committed baseline (baselines/tiny-dpo.json, three seeds of the built-in DPO).

The unchanged run against that same baseline is scripts/regression_check.sh, which scripts/test.sh runs
after the tests (and scripts/reproduce_check.sh compares that run with a committed record), so this file
trains only the changed loss, on two of the baseline's three seeds: reversed DPO sits ~70 points below, and
the check pools the seed spread of runs with different seed counts (stats.rerun_difference_ci).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import builtin_losses_dir, repo_root

pytestmark = pytest.mark.slow

DPO = builtin_losses_dir() / "dpo.py"
REVERSED = builtin_losses_dir() / "controls" / "reversed_dpo.py"
BASELINE = repo_root() / "baselines" / "tiny-dpo.json"


def harness_ci(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A separate process per run, as in CI: nothing carries over in memory from the test process."""
    cmd = [sys.executable, "-m", "harness.cli", "ci", "--suite", "tiny", "--quiet", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A team's repository: the committed baseline, made from losses/dpo.py."""
    (tmp_path / "losses").mkdir()
    (tmp_path / "losses" / "dpo.py").write_text(DPO.read_text())
    shutil.copy(BASELINE, tmp_path / "baseline.json")
    return tmp_path


def test_the_baseline_names_the_file_it_was_made_from(workdir):
    baseline = json.loads((workdir / "baseline.json").read_text())
    assert baseline["losses"]["dpo"]["loss"]["path"] == "losses/dpo.py"
    assert baseline["losses"]["dpo"]["loss"]["sha256"] == hashlib.sha256(DPO.read_bytes()).hexdigest()


def test_loss_made_worse_is_caught_with_exit_1(workdir):
    # the team's losses/dpo.py now trains towards the rejected answers (same file and name, reversed sign)
    (workdir / "losses" / "dpo.py").write_text(REVERSED.read_text().replace("def reversed_dpo(", "def dpo("))
    result = harness_ci("--baseline", "baseline.json", "--seeds", "2", "--report", "report.json", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((workdir / "report.json").read_text())
    primary = next(r for r in report["rows"] if r["gated"])
    assert primary["verdict"] == "regression" and primary["difference"]["ci"][1] < -report["tolerance"]
    assert any("loss file changed" in n for n in report["notes"])
