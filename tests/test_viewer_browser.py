"""The answers page (harness.viewer) in headless Chromium: search and filters hide and show the right
prompts, no console error, and hostile strings in the record (prompt, answer, reasoning, the loss's
name) run nothing. A test script is injected into a copy of the page (as test_leaderboard_browser.py)."""

from __future__ import annotations

import re

import pytest
from test_leaderboard_browser import ERRORS_HOOK, run_page
from test_leaderboard_records import make_record
from test_viewer import HOSTILE, with_answers

from harness.viewer import record_page

pytestmark = pytest.mark.browser

DRIVER = """<script>
window.addEventListener("load", function () {
  var out = {};
  function visible() {
    return Array.prototype.filter.call(document.querySelectorAll("article.item"), function (a) { return !a.hidden; })
      .map(function (a) { return a.id; });
  }
  function set(id, value) {
    var el = document.getElementById(id);
    el.value = value;
    el.dispatchEvent(new Event("input"));
  }
  function shownAnswers() {
    return Array.prototype.filter.call(document.querySelectorAll("section.answer"), function (s) {
      return !s.hidden && !s.closest("article").hidden; }).length;
  }
  out.initial = visible();
  out.count = document.getElementById("count").textContent;
  set("search", "FOREST"); out.forest = visible();
  set("search", "seed 1 answer 2"); out.seedOneAnswer = visible();
  set("search", "nothing like this anywhere"); out.none = visible();
  out.noneCount = document.getElementById("count").textContent;
  set("search", ""); set("verdict", "loss"); out.losses = visible(); out.lossAnswers = shownAnswers();
  set("verdict", ""); set("seed", "1"); out.seedOne = shownAnswers();
  set("seed", ""); set("search", "<script>"); out.hostile = visible();
  out.pwned = window.__pwned || null;
  out.imgs = document.querySelectorAll("img").length;
  out.reasoning = document.querySelectorAll("details.reasoning").length;
  out.errors = window.__errors;
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_the_answers_page_searches_filters_and_runs_no_record_string(tmp_path):
    record = make_record(name=HOSTILE[:60], seeds=(0, 1))
    record = with_answers(record, outputs={0: ["under the trees", HOSTILE, "one two"], 1: ["a", "b", "seed 1 answer 2"]},
                          reasoning=[HOSTILE, "fine", None])
    page = tmp_path / "view.html"
    page.write_text(record_page(record).replace("<head>", "<head>" + ERRORS_HOOK, 1)
                    .replace("</body>", DRIVER + "</body>", 1))
    out, stderr = run_page(page, tmp_path)
    assert out["errors"] == [], out["errors"]
    assert [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]|Uncaught", line)] == []
    assert out["initial"] == ["p0", "p1", "p2"] and out["count"] == "3 of 3 prompts shown"
    assert out["forest"] == ["p0"]  # case-insensitive, in the prompt
    assert out["seedOneAnswer"] == ["p2"]  # in an answer
    assert out["none"] == [] and out["noneCount"] == "0 of 3 prompts shown"
    assert out["losses"] == ["p2"] and out["lossAnswers"] == 2  # prompt 3 lost in both seeds
    assert out["seedOne"] == 3  # one answer per prompt of seed 1
    assert out["hostile"] == ["p0", "p1"]  # the hostile text is searchable as text (the reasoning, the prompt)
    assert out["pwned"] is None and out["imgs"] == 0
    assert out["reasoning"] == 4  # two seeds x the two prompts with reasoning
