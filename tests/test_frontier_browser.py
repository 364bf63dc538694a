"""The board's reward-vs-KL plot in headless Chromium with one loss far past the KL budget (the tiny
board's apo_down ends near KL 190): the other losses must spread over the plot, not sit in a corner,
and the outlier is marked on the edge with its name, listed under the plot and drawn in the log-axis
plot. Positions are read from the rendered page (getBoundingClientRect)."""

from __future__ import annotations

import pytest
from test_leaderboard_browser import ERRORS_HOOK, run_page
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record

from harness.leaderboard.publish import submit_record

pytestmark = pytest.mark.browser

DRIVER = """<script>
window.addEventListener("load", function () {
  var out = {}, svg = document.getElementById("frontier");
  var plot = svg.querySelector("rect.plotbg").getBoundingClientRect();
  out.plot = [plot.left, plot.right];
  out.finals = Array.prototype.map.call(svg.querySelectorAll("circle.final"), function (c) {
    var r = c.getBoundingClientRect();
    return {name: c.querySelector("title").textContent.split(":")[0], x: (r.left + r.right) / 2};
  });
  out.marks = Array.prototype.map.call(svg.querySelectorAll("g.outlier text"), function (t) { return t.textContent; });
  var mark = svg.querySelector("g.outlier path");
  out.markRight = mark ? mark.getBoundingClientRect().right : null;
  out.listed = (document.getElementById("frontier-outliers") || {}).textContent || "";
  out.fullFinals = document.querySelectorAll("#frontier-full circle.final").length;
  out.errors = window.__errors;
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_one_far_outlier_no_longer_squashes_the_reward_kl_plot(tmp_path):
    board = tmp_path / "tiny"
    # trajectories reach KL 4 * kl_scale (make_record): 1.6 to 8 nats for these, 400 for the outlier
    for name, wr, kl in [("dpo", 0.6, 0.4), ("ipo", 0.55, 1.0), ("slic", 0.5, 1.5), ("kto", 0.52, 2.0),
                         ("apo_down", 0.3, 100.0)]:
        submit_record(board, make_record(name, wr, 0.04, kl_scale=kl), suite="tiny", expected_hash=SUITE_HASH,
                      verification=VERIFIED)
    page = tmp_path / "page.html"
    page.write_text((board / "index.html").read_text().replace("<head>", "<head>" + ERRORS_HOOK, 1)
                    .replace("</body>", DRIVER + "</body>", 1))
    out, _ = run_page(page, tmp_path)
    assert out["errors"] == []
    left, right = out["plot"]
    inside = {f["name"]: f["x"] for f in out["finals"] if f["name"] != "apo_down"}
    assert all(left <= x <= right for x in inside.values())
    # the four in-budget losses spread over most of the plot's width (before: all within its first 2%)
    assert (max(inside.values()) - min(inside.values())) / (right - left) > 0.6
    assert out["marks"] == ["apo_down → KL 400"] and abs(out["markRight"] - right) < 2
    assert "apo_down (last step at KL 400" in out["listed"]
    assert out["fullFinals"] == 5  # the log-axis plot keeps every loss
