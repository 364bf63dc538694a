"""Consistent commands and a clean terminal: --quiet everywhere, run ids and built-in names wherever a
record or a loss is taken, --json on stdout, --seeds auto, check's beta from the suite, library warnings
in a log, and `submit`'s scratch board, its refusal of unrankable requests before benching, and its
reuse of a stored identical run."""

from __future__ import annotations

import json
import sys
import types
import warnings

import pytest
from click.testing import CliRunner
from test_leaderboard_records import SUITE_HASH, loss_source, make_record

import harness.leaderboard.submit as submit_mod
from harness.bench import BenchUsageError
from harness.cli import COMMANDS, main
from harness.commands.options import LOSS, SEEDS
from harness.records import record_path, write_record
from harness.store import RunStore, run_side


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_takes_quiet(name):
    out = CliRunner().invoke(main, [name, "--help"])
    assert out.exit_code == 0 and "--quiet" in out.output


def test_a_loss_is_a_file_or_a_builtin_name(tmp_path):
    assert LOSS.convert("dpo", None, None).name == "dpo.py"
    out = CliRunner().invoke(main, ["bench", "--loss", "dpoo"])  # not "dop": the closest to that is DPOP
    assert out.exit_code == 2 and "Did you mean 'dpo'" in out.output
    out = CliRunner().invoke(main, ["check", "--loss", str(tmp_path / "missing.py")])
    assert out.exit_code == 2 and "no such loss file" in out.output


def test_seeds_take_a_number_or_auto():
    assert SEEDS.convert("auto", None, None) == "auto" and SEEDS.convert("4", None, None) == 4
    for command in ("bench", "submit", "compare"):
        assert "auto" in CliRunner().invoke(main, [command, "--help"]).output


def test_check_uses_the_suites_beta_by_default(monkeypatch):
    import harness.checks as checks

    seen = []

    def fake_check(path, *, backend, config, hyperparameters=None):
        seen.append(config.beta)
        raise checks.CheckSetupError("stop here")

    monkeypatch.setattr(checks, "check_loss_file", fake_check)
    from harness.suites import SUITES

    CliRunner().invoke(main, ["check", "--loss", "dpo"])
    CliRunner().invoke(main, ["check", "--loss", "dpo", "--suite", "tiny-beta0.05"])
    CliRunner().invoke(main, ["check", "--loss", "dpo", "--beta", "0.3"])
    assert seen == [SUITES.get("tiny").config.beta, 0.05, 0.3]  # the suite's beta, as bench uses it


def test_library_warnings_go_to_the_log_and_ours_to_the_terminal(tmp_path, monkeypatch):
    from harness import terminal

    shown = []
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setattr(terminal, "_shown", lambda message, *args: shown.append(str(message)))  # the terminal
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = terminal._route
        warnings.warn_explicit("`x` is deprecated and will be removed in v6", FutureWarning,
                               "/venv/site-packages/transformers/training_args.py", 1541)
        warnings.warn_explicit("ours", UserWarning, f"{terminal.HARNESS_DIR}/bench.py", 1)
    log = (tmp_path / "logs" / "warnings.log").read_text()
    assert "FutureWarning" in log and "training_args.py:1541" in log and "ours" not in log
    assert shown == ["ours"]


def test_training_settings_raise_no_library_warning():
    from harness.train import TrainConfig, dpo_args

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the transformers FutureWarning about gradient_checkpointing was one
        args = dpo_args(TrainConfig(), beta=0.1, seed=0, output_dir="/tmp/harness-test-args")
    assert args.gradient_checkpointing is False


# -- submit --------------------------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(submit_mod, "current_suite_hash", lambda suite: SUITE_HASH)
    monkeypatch.setattr(submit_mod, "behaviour_check", lambda source, name, **kw: None)
    ran = []

    def bench_and_store(path, **kwargs):
        ran.append(kwargs)
        return types.SimpleNamespace(record=make_record("dpo", seeds=tuple(range(kwargs["seeds"]))), store_error=None)

    monkeypatch.setitem(sys.modules, "harness.bench", types.SimpleNamespace(bench_and_store=bench_and_store,
                                                                            BenchUsageError=BenchUsageError))
    loss = tmp_path / "dpo.py"
    loss.write_text(loss_source("dpo"))
    return types.SimpleNamespace(tmp=tmp_path, ran=ran, loss=str(loss), store=f"sqlite:///{tmp_path / 'runs.sqlite'}")


def test_submit_refuses_one_seed_before_benching(env):
    out = CliRunner().invoke(main, ["submit", "--loss", env.loss, "--seeds", "1", "--store", env.store])
    assert out.exit_code == 2 and "at least 2 shared seeds" in out.output and env.ran == []


def test_submit_defaults_to_a_board_under_the_harness_home(env):
    out = CliRunner().invoke(main, ["submit", "--loss", env.loss, "--store", env.store])
    assert out.exit_code == 0, out.output
    assert (env.tmp / "home" / "boards" / "tiny" / "index.html").is_file() and len(env.ran) == 1
    assert "harness leaderboard --suite tiny --board-dir" in out.output


def test_submit_reuses_a_stored_identical_run_made_here(env):
    record = make_record("dpo", seeds=(0, 1, 2), verified=None)
    write_record(record, record_path(record, None))  # as `harness bench` wrote it on this machine
    run_id = RunStore(env.store).add(record)
    out = CliRunner().invoke(main, ["submit", "--loss", env.loss, "--store", env.store])
    assert out.exit_code == 0, out.output
    assert f"reused the identical stored run {run_id}" in out.output and env.ran == []
    board_copy = json.loads(next((env.tmp / "home" / "boards" / "tiny" / "records").glob("*.json")).read_text())
    assert board_copy["verification"]["method"] == "local" and board_copy["created_at"] == record["created_at"]


def test_submit_does_not_take_a_foreign_stored_run_for_one_made_here(env):
    RunStore(env.store).add(make_record("dpo", seeds=(0, 1, 2), verified=None))  # via `submit --record`: no file
    out = CliRunner().invoke(main, ["submit", "--loss", env.loss, "--store", env.store])
    assert out.exit_code == 0 and "reused" not in out.output and len(env.ran) == 1


def test_submit_record_takes_a_run_id(env):
    record = make_record("dpo", seeds=(0, 1, 2), verified=None)
    write_record(record, record_path(record, None))
    run_id = RunStore(env.store).add(record)
    out = CliRunner().invoke(main, ["submit", "--record", str(run_id), "--store", env.store])
    assert out.exit_code == 0 and "added to the tiny board at rank 1" in out.output, out.output
    assert env.ran == []  # made here: verified as local, no re-run


def test_compare_takes_the_run_ids_runs_prints_and_builtin_names(tmp_path, monkeypatch):
    from outcome_records import outcome_tables, record_with_outcomes

    from harness.comparison import compare_specs

    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    tables = outcome_tables([0.84, 0.30], seeds=3, prompts=32)
    ids = [RunStore(store).add(record_with_outcomes(n, t)) for n, t in zip(("dpo", "reversed"), tables, strict=True)]
    out = CliRunner().invoke(main, ["compare", str(ids[1]), str(ids[0]), "--store", store, "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["a"]["name"] == "reversed" and result["b"]["name"] == "dpo" and result["difference"] < 0
    missing = CliRunner().invoke(main, ["compare", "99", str(ids[0]), "--store", store])
    assert missing.exit_code == 2 and "no run 99" in missing.output
    ran = []
    compare_specs(str(ids[0]), "ipo", lookup=lambda spec: run_side(spec, store),
                  run=lambda spec, seeds: ran.append((spec, seeds)) or record_with_outcomes("ipo", tables[1]))
    assert ran == [("ipo", 3)]  # a built-in's name is a loss to run, on the other side's seeds
