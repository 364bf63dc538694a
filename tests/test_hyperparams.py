"""Hyper-parameters declared by a loss file (harness.hyperparams): the declaration read from the syntax
tree, values checked on the trusted side, passed through the sandbox's wire, checked at both ends of
their range by `harness check`, recorded, and part of the entry's identity on a board."""

from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from harness import check_probes
from harness.checks import CheckConfig, check_session
from harness.cli import main
from harness.hyperparams import (
    HyperparameterError,
    entry_key,
    entry_label,
    label,
    record_overrides,
    resolve,
    settings_key,
    split_overrides,
)
from harness.lossfile import LossFileError, load_loss, parse_loss_source
from harness.sandbox import open_session
from harness.session import InProcessSession

TAU = '''import torch.nn.functional as F

HYPERPARAMETERS = {"tau": (0.01, 1.0), "k": (1, 4)}


def loss(policy_chosen_logps, policy_rejected_logps, beta, tau=0.05, k=2):
    """A margin loss with a temperature and an integer power."""
    return -F.logsigmoid((policy_chosen_logps - policy_rejected_logps) * beta / tau) ** k
'''


def test_declaration_is_read_from_the_syntax_tree():
    sig = parse_loss_source(TAU)
    assert sig.params == ("policy_chosen_logps", "policy_rejected_logps", "beta")
    assert [h.as_dict() for h in sig.hyperparameters] == [
        {"name": "tau", "default": 0.05, "range": [0.01, 1.0], "integer": False},
        {"name": "k", "default": 2, "range": [1, 4], "integer": True}]


@pytest.mark.parametrize("edit, message", [
    (("tau=0.05", "tau"), "unknown parameter.*tau.*a hyper-parameter needs a default"),
    (('"tau": (0.01, 1.0), ', ""), "needs a default in the signature"),
    (("(0.01, 1.0)", "(0.1, 1.0)"), "outside its range"),
    (("tau=0.05", "tau=True"), "finite int or float"),
    (("tau=0.05", "tau=float('inf')"), "literal number"),
    (("(0.01, 1.0)", "(0.01,)"), "(low, high) pair"),
    (('"k": (1, 4)', '"k": (1, 4), "x": (0, 1)'), "does not take as parameters"),
    (("(1, 4)", "(1.5, 4)"), "whole numbers"),
    (("tau=0.05", "Tau=0.05"), "lower_case"),
    (("HYPERPARAMETERS = {", "HYPERPARAMETERS = dict({"), "dict literal"),
])  # fmt: skip
def test_a_broken_declaration_names_the_problem(edit, message):
    old, new = edit
    source = TAU.replace(old, new)
    if "Tau" in new:
        source = source.replace('"tau"', '"Tau"')
    if "dict({" in new:
        source = source.replace('(1, 4)}', '(1, 4)})')
    with pytest.raises(LossFileError, match=message if ".*" in message else re.escape(message)):
        parse_loss_source(source, "x.py")


def test_a_misspelled_vocabulary_name_still_lists_the_vocabulary():
    with pytest.raises(LossFileError, match="policy_rejected_logps.*hyper-parameter needs a default"):
        parse_loss_source("def loss(policy_chosen_logp, beta):\n    return policy_chosen_logp\n")


def test_values_are_resolved_against_the_declaration():
    declared = parse_loss_source(TAU).hyperparameters
    assert resolve(declared, None) == {"tau": 0.05, "k": 2}
    assert resolve(declared, {"tau": 1, "k": 3.0}) == {"tau": 1.0, "k": 3}
    assert isinstance(resolve(declared, {"k": 3.0})["k"], int)
    with pytest.raises(HyperparameterError, match="Did you mean 'tau'"):
        resolve(declared, {"taux": 0.1})
    with pytest.raises(HyperparameterError, match=r"outside its declared range \[0.01, 1.0\]"):
        resolve(declared, {"tau": 2.0})
    with pytest.raises(HyperparameterError, match="is an integer"):
        resolve(declared, {"k": 2.5})
    with pytest.raises(HyperparameterError, match="finite number"):
        resolve(declared, {"tau": "0.1"})


def test_set_keys_split_and_settings_name_an_entry():
    assert split_overrides({"loss.tau": 0.1, "train.steps": 4}) == ({"train.steps": 4}, {"tau": 0.1})
    record = {"loss": {"name": "margin", "sha256": "a" * 64, "hyperparameters": {"tau": 0.1, "k": 2}}}
    assert entry_key(record) == "a" * 64 + "-" + settings_key({"tau": 0.1, "k": 2})
    assert entry_label(record) == "margin [tau=0.1, k=2]" and label({"tau": 0.1}) == "tau=0.1"
    assert record_overrides(record) == {"loss.tau": 0.1, "loss.k": 2}
    plain = {"loss": {"name": "dpo", "sha256": "b" * 64}}
    assert entry_key(plain) == "b" * 64 and entry_label(plain) == "dpo"  # records without: unchanged
    assert settings_key({"tau": 0.1}) != settings_key({"tau": 0.2})


def _file(tmp_path, source=TAU, name="margin.py"):
    path = tmp_path / name
    path.write_text(source)
    return path


def _inputs(batch=5):
    return check_probes.behaviour_inputs(batch, torch.float32, "realistic", 10.0, 0)


def test_the_loss_takes_its_defaults_or_the_session_values(tmp_path):
    loss = load_loss(_file(tmp_path))
    x = _inputs()
    default = loss(**x, beta=0.1)
    torch.testing.assert_close(default, loss(**x, beta=0.1, tau=0.05, k=2))
    session = InProcessSession(loss, {"tau": 0.5})
    assert session.hyperparameters == {"tau": 0.5, "k": 2}
    torch.testing.assert_close(session.call(x, 0.1).losses, loss(**x, beta=0.1, tau=0.5))
    assert not torch.allclose(session.call(x, 0.1).losses, default)


def test_open_session_refuses_a_value_the_file_does_not_allow(tmp_path):
    with pytest.raises(HyperparameterError, match="outside its declared range"):
        open_session(_file(tmp_path), backend="none", trust=True, hyperparameters={"tau": 5.0})


def test_the_check_probes_both_ends_of_every_range(tmp_path):
    """A loss that divides by (k - 1) is finite at the default k = 2 but not at k = 1, the low end of its
    declared range: the declaration is wrong, and `harness check` says so, naming it."""
    source = TAU.replace("** k", "/ (k - 1)")
    path = _file(tmp_path, source)
    session = InProcessSession(load_loss(path))
    report = check_session(session, parse_loss_source(source), CheckConfig(batch_sizes=(7,), speed_batch=7))
    assert not report.valid
    assert any("k=1 (an end of its declared range [1, 4])" in e and "narrow its range" in e for e in report.errors)
    assert session.hyperparameters == {"tau": 0.05, "k": 2}  # restored after the probe
    ok = check_session(InProcessSession(load_loss(_file(tmp_path))), parse_loss_source(TAU),
                       CheckConfig(batch_sizes=(7,), speed_batch=7))
    assert ok.valid, ok.errors
    assert ok.hyperparameters == {"tau": 0.05, "k": 2}


def test_check_cli_takes_loss_settings_and_refuses_bad_ones(tmp_path, monkeypatch):
    import harness.checks as checks

    seen = {}

    def fake(path, *, backend, config, hyperparameters=None):
        seen["hyper"] = hyperparameters
        return checks.CheckReport(path=str(path), name="margin")

    monkeypatch.setattr(checks, "check_loss_file", fake)
    path = _file(tmp_path)
    result = CliRunner().invoke(main, ["check", "--loss", str(path), "--set", "loss.tau=0.5", "--json"])
    assert result.exit_code == 0, result.output
    assert seen["hyper"] == {"tau": 0.5}
    result = CliRunner().invoke(main, ["check", "--loss", str(path), "--set", "train.steps=3"])
    assert result.exit_code == 2 and "only loss hyper-parameters" in result.output


def test_a_value_outside_the_range_is_a_check_usage_error(tmp_path):
    from harness.checks import CheckSetupError, check_loss_file

    with pytest.raises(CheckSetupError, match="outside its declared range"):
        check_loss_file(_file(tmp_path), backend="docker", hyperparameters={"tau": 9.0})


def test_bench_records_the_setting_and_refuses_an_unknown_one(tmp_path):
    from harness.bench import BenchUsageError, loss_provenance, loss_settings
    from harness.lossfile import read_loss

    loss = read_loss(_file(tmp_path))
    assert loss_settings(loss, {"loss.tau": 0.2, "train.steps": 4}) == {"tau": 0.2, "k": 2}
    with pytest.raises(BenchUsageError, match="declares no hyper-parameter 'gamma'"):
        loss_settings(loss, {"loss.gamma": 1})
    assert loss_provenance(loss, {"tau": 0.2, "k": 2}) == {"hyperparameters": {"tau": 0.2, "k": 2}}


def test_sweep_values_are_parsed_strictly():
    import click

    from harness.commands.sweep import parse_sweep

    assert parse_sweep("loss.ld_alpha=0.25,0.5,1") == ("ld_alpha", [0.25, 0.5, 1])
    for bad in ("ld_alpha=0.1,0.2", "loss.ld_alpha=0.1", "loss.x=0.1,0.1", "loss.x=a,b", "loss.=1,2"):
        with pytest.raises(click.BadParameter):
            parse_sweep(bad)


def test_records_with_a_malformed_setting_are_refused_by_boards():
    from harness.leaderboard.fields import FieldError, _check_hyperparameters

    _check_hyperparameters({"tau": 0.1})
    for bad in ({"tau": "0.1"}, {"<b>": 1}, {"tau": float("nan")}, [], {}):
        with pytest.raises(FieldError):
            _check_hyperparameters(bad)


def test_a_combination_of_declaring_builtins_shares_their_setting():
    """TRL's convention: one label_smoothing for every loss_type of the list (both AOTs declare it alike;
    components that declare a name differently cannot be combined)."""
    sig = parse_loss_source('LOSS_TYPE = ["aot", "aot_unpaired"]\n', "c.py")
    assert [h.name for h in sig.hyperparameters] == ["label_smoothing"]
    loss = load_loss(parse_and_write('LOSS_TYPE = ["aot", "aot_unpaired"]\n'))
    x = _inputs(6)
    both = loss(**x, beta=0.1, label_smoothing=0.2)
    aot, unpaired = (load_loss(f"losses/{n}.py")(**x, beta=0.1, label_smoothing=0.2) for n in ("aot", "aot_unpaired"))
    torch.testing.assert_close(both, aot + unpaired)
    for clash in ('["rdpo", "tdpo"]', '["aot", "cdpo"]'):
        with pytest.raises(LossFileError, match="differently"):
            parse_loss_source(f"LOSS_TYPE = {clash}\n", "c.py")


def parse_and_write(source: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="harness-combo-")) / "combo.py"
    path.write_text(source)
    return path


def test_json_report_carries_the_checked_values(tmp_path):
    from harness.checks import CheckReport

    report = CheckReport(path="x", name="x", hyperparameters={"tau": 0.5})
    assert json.loads(json.dumps(report.as_dict()))["hyperparameters"] == {"tau": 0.5}
