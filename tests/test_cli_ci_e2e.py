"""`harness ci` with real tiny-suite training (slow tier): an unchanged run passes against a baseline
made on the same machine, and a loss made worse on purpose is caught with exit code 1.

Four seeds per run: a baseline needs three measured seeds, and a seed can still be unresolved (a
jump within 1/16 of an optimizer step) or censored; two seed processes train four seeds in the wall
time of three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import builtin_losses_dir

pytestmark = pytest.mark.slow

DPO = builtin_losses_dir() / "dpo.py"
REVERSED = builtin_losses_dir() / "controls" / "reversed_dpo.py"


def harness_ci(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A separate process per run, as in CI: nothing carries over in memory between the two runs."""
    cmd = [sys.executable, "-m", "harness.cli", "ci", "--suite", "tiny", "--seeds", "4", "--quiet", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A team's repository: its loss file dpo.py and a baseline made from it on this machine."""
    work = tmp_path_factory.mktemp("team")
    (work / "dpo.py").write_text(DPO.read_text())
    made = harness_ci("--loss", "dpo.py", "--baseline", "baseline.json", "--update-baseline", "--allow-dirty", cwd=work)
    assert made.returncode == 0, made.stdout + made.stderr
    return work


def test_unchanged_run_passes_with_identical_metrics(workdir):
    result = harness_ci("--baseline", "baseline.json", "--report", "report.json", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((workdir / "report.json").read_text())
    assert report["result"] == "pass" and report["rows"]
    # same machine, same seed: training is deterministic, so every difference is exactly zero
    assert all(row["difference"]["mean"] == 0.0 for row in report["rows"] if row["difference"]), report["rows"]


def test_loss_made_worse_is_caught_with_exit_1(workdir):
    # the team's dpo.py now trains towards the rejected answers (same file and name, reversed sign)
    (workdir / "dpo.py").write_text(REVERSED.read_text().replace("def reversed_dpo(", "def dpo("))
    result = harness_ci("--baseline", "baseline.json", "--report", "report.json", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((workdir / "report.json").read_text())
    primary = next(r for r in report["rows"] if r["gated"])
    assert primary["verdict"] == "regression" and primary["difference"]["ci"][1] < -report["tolerance"]
    assert any("loss file changed" in n for n in report["notes"])
