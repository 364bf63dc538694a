"""`harness check` on the command line: exit codes 0 / 1 / 2, one JSON object with --json, no
tracebacks for broken files, and the loss never runs in the CLI's own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "broken_losses"


@pytest.fixture
def jail():
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")


def run(*args):
    return CliRunner().invoke(main, ["check", *map(str, args)])


def test_structurally_broken_file_exits_1_with_the_message_and_no_traceback():
    result = run("--loss", BROKEN / "two_functions.py")
    assert result.exit_code == 1
    assert "INVALID" in result.output and "several public top-level functions" in result.output
    assert "Traceback" not in result.output


def test_json_is_exactly_one_object_for_an_invalid_file():
    result = run("--loss", BROKEN / "syntax_error.py", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # the whole stdout parses: nothing else was printed
    assert report["valid"] is False and "syntax error" in report["errors"][0]
    assert {"errors", "warnings", "diagnostics"} <= set(report)


@pytest.mark.parametrize(
    "args",
    [[], ["--loss", "does/not/exist.py"], ["--loss", ROOT / "losses" / "dpo.py", "--backend", "none"],
     ["--loss", ROOT / "losses" / "dpo.py", "--beta", "0"], ["--loss", ROOT / "losses"]],
)  # fmt: skip
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_sandbox_unavailable_exits_2_with_the_reason(monkeypatch):
    import harness.sandbox

    def unavailable(*args, **kwargs):
        raise harness.sandbox.SandboxUnavailable("bubblewrap is not installed; apt-get install bubblewrap")

    monkeypatch.setattr(harness.sandbox, "open_session", unavailable)
    result = run("--loss", ROOT / "losses" / "dpo.py")
    assert result.exit_code == 2
    assert "bubblewrap is not installed" in result.stderr and result.stdout == ""


@pytest.mark.jail
def test_valid_builtin_exits_0_and_reports_the_slope(jail):
    result = run("--loss", ROOT / "losses" / "discopop.py")
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output and "slope_at_zero: 0.392" in result.output  # at tiny v2's beta 0.5
    assert "away from the chosen answer" in result.output


@pytest.mark.jail
def test_the_loss_never_runs_in_the_cli_process(jail, monkeypatch):
    import harness.lossfile

    def forbidden(*args, **kwargs):
        raise AssertionError("the CLI process executed a loss file")

    monkeypatch.setattr(harness.lossfile, "load_loss", forbidden)
    result = run("--loss", ROOT / "losses" / "dpo.py", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.jail
@pytest.mark.parametrize("name", ["raises.py", "nan_output.py", "no_gradient.py", "fails_at_import.py"])
def test_broken_behaviour_exits_1_with_one_json_object(jail, name):
    result = run("--loss", BROKEN / name, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False and len(report["errors"]) == 1
    # A file that fails at import never opens a session: the requested backend is reported.
    assert report["backend"] == ("auto" if name == "fails_at_import.py" else "jail")
    assert "Traceback" not in report["errors"][0] and "harness/sandbox" not in report["errors"][0]


@pytest.mark.jail
def test_a_loss_that_prints_does_not_break_json(jail):
    """Run as a real subprocess: the loss's prints must not reach the CLI's stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "--loss", str(BROKEN / "prints.py"), "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["valid"] is True
    assert "debug: computing the loss" not in proc.stdout
