"""A record made elsewhere must prove itself (issue 15 items 9 and 12, issue 18 item 6): its aggregates
are recomputed from its own data, its provenance is proven by a trusted signature or a re-run seed
(else it is listed apart, unverified), and a loss that fails `harness check` is never ranked."""

from __future__ import annotations

import copy
import csv
import glob
import hashlib
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from test_leaderboard_records import SUITE_HASH, VERIFIED, make_record
from test_submit import RUNNER_KEY, board_files, env, submit, write  # noqa: F401  (env is a fixture)

from harness.leaderboard.board import build_board
from harness.leaderboard.proof import ProofError, check_aggregates, sign_record, verify_signature
from harness.leaderboard.verify import VerificationError, record_filename, verify_foreign
from harness.stats.crossed import win_rate_ci

REPO = Path(__file__).resolve().parent.parent


def real_dpo_record() -> dict:
    paths = [p for p in glob.glob(str(REPO / "leaderboards" / "archive" / "tiny-v1" / "records" / "*.json"))
             if json.loads(Path(p).read_text())["loss"]["name"] == "dpo"]
    if not paths:
        pytest.skip("the repository's tiny board has no dpo record")
    return json.loads(Path(paths[0]).read_text())


def test_a_real_record_is_consistent_and_an_edited_headline_is_refused():
    record = real_dpo_record()
    check_aggregates(record)  # what `harness bench` wrote agrees with itself
    edited = copy.deepcopy(record)
    edited["metrics"]["win_rate"], edited["metrics"]["win_rate_ci"] = 0.97, [0.95, 0.99]
    with pytest.raises(ProofError, match=r"metrics\.win_rate is 0\.97, but (the mean of its per_seed values|outcomes\.tables\.verdict averages)"):
        check_aggregates(edited)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["metrics"].update(win_rate=0.64, win_rate_ci=[0.6, 0.7]), "metrics.win_rate"),
    (lambda r: r["metrics"].update(reward=5.0), "metrics.reward"),
    (lambda r: r["metrics"].update(kl=0.1), "metrics.kl"),
    (lambda r: r["metrics"].update(censored_seeds=0), "metrics.censored_seeds"),
    (lambda r: [s.pop("reward") for s in r["per_seed"]], "metrics.reward cannot be recomputed"),
])
def test_contradictions_are_refused_naming_the_field(edit, field):
    record = make_record(censored_seeds=1, verified=None)
    edit(record)
    with pytest.raises(VerificationError, match=field.replace(".", r"\.")):
        verify_foreign(record)


def with_outcomes(record: dict, seed_rows: list[list[float] | None]) -> dict:
    """A schema-2 style record whose per-seed and overall win rates come from per-prompt outcomes."""
    record = copy.deepcopy(record)
    record["outcomes"] = {"prompts_sha256": "0" * 64, "primary": "verdict", "tables": {"verdict": seed_rows},
                          "seed_status": ["measured" if r is not None else "censored" for r in seed_rows]}
    measured = [r for r in seed_rows if r is not None]
    for s, row in zip(record["per_seed"], seed_rows, strict=True):  # a censored seed has no win rate
        s["win_rate"] = None if row is None else float(np.mean(row))
    est = win_rate_ci(np.array([r if r is not None else [np.nan] * len(measured[0]) for r in seed_rows]))
    record["metrics"].update(win_rate=float(np.mean(measured)), win_rate_ci=[est.low, est.high])
    return record


def test_outcomes_decide_the_win_rates():
    rows = [[1, 0.5, 0, 1] * 4, [1, 1, 0.5, 0.5] * 4, None]
    record = with_outcomes(make_record(verified=None), rows)
    check_aggregates(record)
    narrowed = copy.deepcopy(record)
    narrowed["metrics"]["win_rate_ci"] = [0.68, 0.695]  # a CI narrower than the data allow
    with pytest.raises(ProofError, match=r"metrics\.win_rate_ci is \[0\.6800, 0\.6950\], but the outcomes give"):
        check_aggregates(narrowed)
    edited = copy.deepcopy(record)
    edited["per_seed"][1]["win_rate"] = 0.99
    with pytest.raises(ProofError, match=r"per_seed\[1\]\.win_rate is 0\.99, but its outcomes row averages 0\.7500"):
        check_aggregates(edited)
    edited = copy.deepcopy(record)
    edited["metrics"].update(win_rate=0.8, win_rate_ci=[0.7, 0.9])
    with pytest.raises(ProofError, match=r"metrics\.win_rate is 0\.8, but outcomes\.tables\.verdict averages 0\.6875"):
        check_aggregates(edited)
    bad = copy.deepcopy(record)
    bad["outcomes"]["tables"]["verdict"][0] = [2, 0]
    with pytest.raises(ProofError, match="scores in"):
        check_aggregates(bad)


def test_table_backed_metrics_are_checked_against_their_rounded_table():
    """tiny computes win_rate_end / win_rate_kl1 from the 4-decimal outcomes tables, so they differ from
    the per_seed means by the rounding: checked against the table (and an edit is still caught)."""
    rows = [[1, 0.5, 0, 1] * 4, [1, 1, 0.5, 0.5] * 4, None]
    record = with_outcomes(make_record(verified=None), rows)
    end = [[0.33333] * 16, [0.66667] * 16, [0.5] * 16]
    record["outcomes"]["tables"]["end"] = end
    for s, row in zip(record["per_seed"], end, strict=True):
        s["win_rate_end"] = float(np.mean(row)) + 3e-6  # the unrounded per-seed value
    record["metrics"]["win_rate_end"] = float(np.mean(end))
    check_aggregates(record)
    edited = copy.deepcopy(record)
    edited["metrics"]["win_rate_end"] = 0.6
    with pytest.raises(ProofError, match=r"metrics\.win_rate_end is 0\.6, but outcomes\.tables\.end averages 0\.5000"):
        check_aggregates(edited)


def test_record_from_a_modified_checkout_is_refused():
    record = make_record(verified=None)
    record["provenance"]["git_revision"] = "abc123+dirty"
    with pytest.raises(VerificationError, match="modified checkout"):
        verify_foreign(record)


def test_signatures(monkeypatch):
    record = make_record(verified=None)
    signed = sign_record(record, b"k1")
    monkeypatch.delenv("HARNESS_RUNNER_KEY", raising=False)
    assert not verify_signature(signed)  # no trusted key: nothing is trusted
    monkeypatch.setenv("HARNESS_RUNNER_KEY", "k1")
    assert verify_signature(signed) and not verify_signature(record)
    assert not verify_signature(sign_record(record, b"another key"))
    forged = copy.deepcopy(signed)  # consistent, but edited after signing
    for s in forged["per_seed"]:
        s["win_rate"] += 0.3
    forged["metrics"].update(win_rate=0.9, win_rate_ci=[0.85, 0.95])
    check_aggregates(forged)
    assert not verify_signature(forged)


def test_unsigned_record_is_listed_apart_and_never_ranked(env):  # noqa: F811
    assert submit(env, "--record", write(env, make_record("ipo", 0.5), "ipo.json")).exit_code == 0
    forged = make_record("dpo", 0.9)
    forged["verification"] = {"verified": True, "method": "signature"}  # a record cannot vouch for itself
    path = env.tmp / "dpo.json"
    path.write_text(json.dumps(forged))
    out = submit(env, "--record", str(path), "--no-rerun")
    assert out.exit_code == 0 and "UNVERIFIED" in out.output, out.output
    from click.testing import CliRunner

    from harness.cli import main

    shown = json.loads(CliRunner().invoke(main, ["leaderboard", "--board-dir", str(env.root), "--format", "json"]).output)
    assert [(e["name"], e["verified"]) for e in shown["entries"]] == [("ipo", True)]
    assert [(e["name"], e["rank"], e["verified"]) for e in shown["unverified"]] == [("dpo", None, False)]
    readme = (env.board / "README.md").read_text()
    assert readme.index("## Unverified records (not ranked)") < readme.index("| dpo")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO((env.board / "leaderboard.csv").read_text()))}
    assert (rows["dpo"]["section"], rows["dpo"]["rank"], rows["dpo"]["verified"]) == ("unverified", "", "False")
    assert (rows["ipo"]["section"], rows["ipo"]["rank"], rows["ipo"]["verified"]) == ("ranked", "1", "True")
    # the same loss, now verified, replaces the unverified entry
    out = submit(env, "--record", write(env, make_record("dpo", 0.9), "dpo2.json"))
    assert out.exit_code == 0 and "at rank 1" in out.output, out.output
    shown = json.loads(CliRunner().invoke(main, ["leaderboard", "--board-dir", str(env.root), "--format", "json"]).output)
    assert all(e["verified"] for e in shown["entries"]) and len(shown["entries"]) == 2 and shown["unverified"] == []


# the re-run's rule (every seed by default, per prompt, censored-vs-censored proves nothing) is held by
# tests/test_attack_verification.py


def test_a_loss_that_fails_its_check_is_refused_and_never_ranked(env, monkeypatch):  # noqa: F811
    import harness.leaderboard.submit as submit_mod

    def failing_check(source, name, **kw):
        raise VerificationError(f"{name} fails `harness check` (invalid: non-finite losses)")

    monkeypatch.setattr(submit_mod, "behaviour_check", failing_check)
    out = submit(env, "--record", write(env, make_record("bf16_inf")))
    assert out.exit_code == 1 and "fails `harness check`" in out.output
    assert not env.board.exists() or not list(env.board.rglob("*.json"))
    # (--loss: the bench runs the check first and records a failing loss as invalid, never ranked)
    # a record that carries a failed check verdict is listed under failed runs, whatever its numbers
    carried = make_record("bf16_inf", 0.99, 0.005)
    carried["check"] = {"valid": False, "errors": ["invalid: non-finite losses (bfloat16)"]}
    board = build_board("tiny", SUITE_HASH, [(f"records/{record_filename(carried)}", {**carried, "verification": VERIFIED})])
    assert board.entries == () and board.failed[0].status == "invalid" and "bfloat16" in board.failed[0].error


BF16_INF = """import torch


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)
    return -torch.log(1 - torch.sigmoid(-3 * beta * rho))
"""


@pytest.mark.jail
def test_bf16_inf_loss_is_refused_by_the_real_check(tmp_path):
    """The loss of issue 15 item 9, INVALID under `harness check` (inf in bfloat16), through the sandbox."""
    from harness.leaderboard.submit import behaviour_check
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    with pytest.raises(VerificationError, match="non-finite"):
        behaviour_check(BF16_INF, "bf16_inf", backend="jail")
    behaviour_check(make_record("dpo")["loss"]["source"], "dpo", backend="jail")  # a sound loss passes


def test_fixture_key_is_what_the_board_trusts(env):  # noqa: F811
    assert verify_signature(sign_record(make_record(verified=None), RUNNER_KEY.encode()))
    assert board_files(env) == {}


def test_submit_loss_upgrades_an_unverified_entry(env, monkeypatch):  # noqa: F811
    from test_leaderboard_records import loss_source

    assert submit(env, "--record", write(env, make_record("dpo"), sign=False), "--no-rerun").exit_code == 0
    loss = env.tmp / "dpo.py"
    loss.write_text(loss_source("dpo"))
    ran = []

    def bench_and_store(path, **kwargs):
        ran.append(kwargs)
        return types.SimpleNamespace(record=make_record("dpo", seeds=tuple(range(kwargs["seeds"]))), store_error=None)

    monkeypatch.setitem(sys.modules, "harness.bench", types.SimpleNamespace(bench_and_store=bench_and_store))
    out = submit(env, "--loss", str(loss), "--quiet")
    assert out.exit_code == 0 and "at rank 1" in out.output and len(ran) == 1, out.output
    again = submit(env, "--loss", str(loss))
    assert "nothing was run" in again.output and len(ran) == 1


@pytest.mark.slow
@pytest.mark.jail
def test_a_real_record_is_verified_by_rerunning_its_seed_and_a_forged_one_is_refused(tmp_path, monkeypatch):
    """The tiny suite, for real: the committed board's DPO record (made on another checkout, its
    board's seal dropped) re-runs to the same seed result; the same results claimed for another loss
    (internally consistent) are refused. One seed of each is re-run, drawn at random (--rerun-sample 1):
    a forgery whose every seed is false is caught by any of them."""
    from harness.leaderboard.submit import SubmitConfig, submit_record_file
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")
    # a home of its own: the board record may have been made on this very machine, and a run found in
    # this machine's run folder would be taken as made here instead of being re-run
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_RUNNER_KEY", raising=False)
    (committed,) = (REPO / "leaderboards" / "tiny" / "records").glob("34831a70*-0cb02bfe528ab913.json")
    record = json.loads(committed.read_text())
    record.pop("verification", None)  # as it left its bench: no board's note
    assert record["loss"]["name"] == "dpo" and len(record["seeds"]) == 3
    cfg = SubmitConfig(board_root=tmp_path / "boards", progress=False, rerun_sample=1,
                       store_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    # a consistent forgery (tables, means and intervals untouched, so every self-check passes): DPO's
    # results claimed for another loss (reversed DPO, which loses to the reference); only a re-run tells
    forged = copy.deepcopy(record)
    source = (REPO / "losses" / "controls" / "reversed_dpo.py").read_text()
    forged["loss"].update(name="reversed_dpo", source=source, sha256=hashlib.sha256(source.encode()).hexdigest())
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(VerificationError, match="the record is contradicted"):
        submit_record_file(tmp_path / "forged.json", cfg)
    (tmp_path / "run.json").write_text(json.dumps(record))
    outcome = submit_record_file(tmp_path / "run.json", cfg)
    assert outcome.action == "added" and "at rank 1 of 1" in outcome.message, outcome.message
    stored = json.loads(outcome.path.read_text())["verification"]
    assert stored["verified"] is True and stored["method"] == "rerun" and "the record agrees" in stored["note"]
    assert len(stored["seeds_rerun"]) == 1 and set(stored["seeds_rerun"]) <= set(record["seeds"]) and stored["seal"]


def test_a_seed_unresolved_at_the_budget_is_left_out_of_the_means_as_the_suite_leaves_it_out():
    """An unresolved (or censored) seed has no reward at the budget: the suite averages the measured
    seeds, so the check does too; a measured seed without its value is still refused."""
    record = make_record(verified=None)
    record["per_seed"][2].update(status="unresolved", reward=None)
    for s in record["per_seed"][:2]:
        s["status"] = "measured"
    record["metrics"]["reward"] = float(np.mean([s["reward"] for s in record["per_seed"][:2]]))
    check_aggregates(record)
    record["per_seed"][0]["reward"] = None  # a measured seed without its value
    with pytest.raises(ProofError, match=r"metrics\.reward cannot be recomputed"):
        check_aggregates(record)
