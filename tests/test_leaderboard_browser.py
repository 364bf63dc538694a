"""index.html in headless Chromium: loads without console errors, one row per entry, sorting and the
source dialog work. A test script is injected into a copy of the page; its results are read back
from the DOM that Chromium dumps (no driver needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from harness.leaderboard.publish import submit_record

pytestmark = pytest.mark.browser

ERRORS_HOOK = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
var __consoleError = console.error;
console.error = function () { window.__errors.push(Array.prototype.join.call(arguments, " "));
                              __consoleError.apply(console, arguments); };
</script>"""

DRIVER = """<script>
(function () {
  var out = {};
  function names() {
    return Array.prototype.map.call(document.querySelectorAll("#board tbody tr"),
      function (r) { return r.querySelector("button.loss").textContent; });
  }
  function sortBy(key) { document.querySelector("th[data-key=" + key + "] button").click(); return names(); }
  out.rows = document.querySelectorAll("#board tbody tr").length;
  out.initial = names();
  out.winFirst = sortBy("winrate");
  out.winSecond = sortBy("winrate");
  out.name = sortBy("name");
  out.kl = sortBy("kl");
  out.ariaSort = document.querySelector("th[data-key=kl]").getAttribute("aria-sort");
  var second = document.querySelectorAll("button.loss")[1];
  second.click();
  out.dialogOpen = document.getElementById("source-dialog").open;
  out.dialogTitle = document.getElementById("source-title").textContent;
  out.dialogSource = document.getElementById("source-code").textContent;
  out.dialogMeta = document.getElementById("source-meta").textContent;
  out.frontierLines = document.querySelectorAll("#frontier polyline.traj").length;
  out.ciBars = document.querySelectorAll("#board svg.ci").length;
  out.errors = window.__errors;
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("headless Chromium is not installed (scripts/setup_test_tiers.sh installs Debian's chromium)")


def run_page(page: Path, tmp_path: Path) -> tuple[dict, str]:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=3000", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="test-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the test script did not run; chromium stderr:\n{proc.stderr[-3000:]}"
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")), proc.stderr


def test_board_page_loads_sorts_and_shows_sources(tmp_path):
    board = tmp_path / "tiny"
    specs = [("dpo", 0.60, 1.0), ("ipo", 0.65, 2.0), ("slic", 0.40, 0.5), ("kto", 0.52, 3.0)]
    for name, wr, kl in specs:
        submit_record(board, make_record(name, wr, 0.04, kl_scale=kl), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    submit_record(board, make_record("broken", status="crash"), suite="tiny", expected_hash=SUITE_HASH, verification=VERIFIED)
    html = (board / "index.html").read_text()
    page = tmp_path / "page.html"
    page.write_text(html.replace("<head>", "<head>" + ERRORS_HOOK, 1).replace("</body>", DRIVER + "</body>", 1))
    out, stderr = run_page(page, tmp_path)
    assert out["errors"] == [], out["errors"]
    console = [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]|Uncaught", line)]
    assert console == [], console  # the page logs nothing; any console line is a problem
    assert out["rows"] == len(specs) and out["ciBars"] == len(specs) and out["frontierLines"] == len(specs)
    assert out["initial"] == ["ipo", "dpo", "kto", "slic"]  # rank order (ipo and dpo share rank 1)
    assert out["winFirst"] == ["ipo", "dpo", "kto", "slic"]  # win rate: highest first on the first click
    assert out["winSecond"] == ["slic", "kto", "dpo", "ipo"]
    assert out["name"] == ["dpo", "ipo", "kto", "slic"]
    assert out["kl"] == ["slic", "dpo", "ipo", "kto"] and out["ariaSort"] == "ascending"
    assert out["dialogOpen"] and out["dialogTitle"] == "dpo"  # the second row after sorting by KL
    assert out["dialogSource"] == make_record("dpo")["loss"]["source"]
    assert "seed 0: 59.0, seed 1: 60.0, seed 2: 61.0" in out["dialogMeta"]


HOSTILE_HOOK = """<script>
window.__alerts = [];
window.alert = window.confirm = window.prompt = function (m) { window.__alerts.push(String(m)); };
</script>"""

HOSTILE_DRIVER = """<script>
window.addEventListener("load", function () {
  Array.prototype.forEach.call(document.querySelectorAll("button.loss"), function (b) {
    b.click(); document.getElementById("source-dialog").close();
  });
  setTimeout(function () {
    var pre = document.createElement("pre");
    pre.id = "test-result";
    pre.textContent = JSON.stringify({title: document.title, alerts: window.__alerts,
                                      pwned: window.__pwned || null, errors: window.__errors,
                                      imgs: document.querySelectorAll("img").length,
                                      scripts: document.querySelectorAll("script").length});
    document.body.appendChild(pre);
  }, 300);
});
</script>"""

XSS = {
    "created_at": "<script>/*",
    "source": "*/document.title='pwned';window.__pwned=1;alert(1)//</script><script>alert(2)</script>",
    "name": "<img src=x onerror=\"document.title='pwned';alert(3)\">",
    "error": "</code><script>document.title='pwned';alert(4)</script><img src=x onerror=alert(5)>",
}


def hostile_board():
    """A board whose every free-text field is hostile, built without the loading checks (as if they were
    bypassed): the page must escape on its own."""
    from harness.leaderboard.board import Board, Entry, FailedRun

    entry = Entry(name=XSS["name"], sha256="a" * 64, win_rate=0.6, win_rate_ci=(0.55, 0.65), seeds=3,
                  created_at=XSS["created_at"] + XSS["source"], record_file="records/x.json", source=XSS["source"],
                  harness_version=XSS["name"], git_revision=XSS["error"], judge_id=XSS["error"], rank=1, verified=True,
                  seed_win_rates=((0, 0.6),), trajectories=(((0.0, 0.0, 0.0), (10.0, 1.0, 0.5)),))
    failed = FailedRun(XSS["name"], "b" * 64, "crash", XSS["error"], XSS["created_at"], "failed/y.json", XSS["source"])
    unverified = Entry(**{**entry.__dict__, "sha256": "c" * 64, "verified": False, "rank": 0})
    return Board("tiny", SUITE_HASH, (entry,), (failed,), (), {}, (unverified,))


def test_hostile_fields_run_no_script(tmp_path):
    from harness.leaderboard.render_html import render_html

    html = render_html(hostile_board())
    page = tmp_path / "page.html"
    page.write_text(html.replace("<head>", "<head>" + HOSTILE_HOOK + ERRORS_HOOK, 1)
                    .replace("</body>", HOSTILE_DRIVER + "</body>", 1))
    out, _ = run_page(page, tmp_path)
    assert out["title"] == "tiny leaderboard"
    assert out["alerts"] == [] and out["pwned"] is None
    assert out["imgs"] == 0
    assert out["scripts"] == 5  # the page's two, the two hooks and the driver: nothing injected


def test_hostile_record_fields_are_rejected_when_a_board_loads(tmp_path):
    from harness.leaderboard.board import build_board
    from harness.leaderboard.verify import record_filename
    from harness.seal import seal

    for field, value in (("created_at", XSS["created_at"]), ("created_at", "2026-13-45T99:00:00+00:00")):
        record = make_record("dpo")
        record[field] = value
        board = build_board("tiny", SUITE_HASH, [(f"records/{record_filename(record)}", record)])
        assert not board.entries and "created_at" in board.rejected[0].reason
    record = make_record("dpo")
    record["loss"]["name"], record["loss"]["source"] = XSS["name"], XSS["source"]
    record["loss"]["sha256"] = __import__("hashlib").sha256(XSS["source"].encode()).hexdigest()
    record = seal(record, record["verification"])  # what the board's process would have sealed
    board = build_board("tiny", SUITE_HASH, [(f"records/{record_filename(record)}", record)])
    assert board.entries[0].name == XSS["name"]  # free text is allowed: every renderer escapes it
