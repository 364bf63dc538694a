"""`harness submit --loss` end to end with the real bench on the tiny suite (slow tier)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.paths import builtin_losses_dir

pytestmark = pytest.mark.slow


def test_submit_loss_benchmarks_on_tiny_and_the_record_verifies_elsewhere(tmp_path):
    pytest.importorskip("harness.bench", reason="harness.bench (run_bench) is not available in this tree")
    from harness.leaderboard.verify import current_suite_hash, verify_record

    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    loss = builtin_losses_dir() / "dpo.py"
    args = ["--suite", "tiny", "--store", store]
    # two seeds, the fewest a board ranks (submit refuses fewer before benching): the point is the submit
    # flow (bench, store, board, idempotence, acceptance elsewhere); the two train
    # side by side, one worker process each
    out = CliRunner().invoke(main, ["submit", "--loss", str(loss), "--seeds", "2", "--quiet",
                                    "--board-dir", str(tmp_path / "a"), *args])
    assert out.exit_code == 0, out.output
    record_path = next((tmp_path / "a" / "tiny" / "records").glob("*.json"))
    record = json.loads(record_path.read_text())
    verify_record(record, "tiny", current_suite_hash("tiny"))
    assert record["seeds"] and len(record["seeds"]) == 2 and record["loss"]["name"] == "dpo"

    shown = CliRunner().invoke(main, ["leaderboard", "--board-dir", str(tmp_path / "a"), "--format", "json"])
    entry = json.loads(shown.output)["entries"][0]
    assert (entry["name"], entry["rank"], entry["seeds"]) == ("dpo", 1, 2)
    lo, hi = entry["win_rate_ci"]
    assert 0.0 <= lo <= entry["win_rate"] <= hi <= 1.0

    again = CliRunner().invoke(main, ["submit", "--loss", str(loss), "--board-dir", str(tmp_path / "a"), *args])
    assert again.exit_code == 0 and "nothing was run" in again.output
    # the same record, produced "elsewhere" by a runner board b trusts (its signature), is accepted there
    # unchanged; verifying a real record by re-running its seeds is tests/test_submit_proof.py's
    from harness.leaderboard.proof import RUNNER_KEY_ENV, sign_record

    key = "a runner board b trusts"
    signed = tmp_path / "signed.json"
    signed.write_text(json.dumps(sign_record(record, key.encode())))
    other = CliRunner().invoke(main, ["submit", "--record", str(signed), "--board-dir", str(tmp_path / "b"), *args],
                               env={RUNNER_KEY_ENV: key})
    assert other.exit_code == 0, other.output
    # the same record, except how each board verified it (a: ran it here; b: a trusted runner's signature)
    theirs = json.loads((tmp_path / "b" / "tiny" / "records" / record_path.name).read_text())
    assert theirs.pop("verification")["method"] == "signature" and record.pop("verification")["method"] == "local"
    theirs.pop("signature", None)
    assert theirs == record
