"""Combinations of built-ins with weights (harness.combination): TRL's loss_type list and loss_weights."""

from __future__ import annotations

import pytest
import torch

from harness import check_probes
from harness.bench import loss_provenance
from harness.lossfile import (
    LossFileError,
    describe_combination,
    executable,
    load_loss,
    parse_loss_source,
    read_loss,
)


def _write(tmp_path, source: str, name: str = "combo.py"):
    path = tmp_path / name
    path.write_text(source)
    return path


def _inputs():
    return check_probes.behaviour_inputs(9, torch.float64, "realistic", 20.0, 3)


def test_a_weighted_list_is_the_weighted_sum_of_its_builtins(tmp_path):
    path = _write(tmp_path, '"""DPO and a little SLiC."""\nLOSS_TYPE = ["sigmoid", "hinge", "ipo"]\n'
                            'LOSS_WEIGHTS = [0.7, 0.3, 2]\n')
    sig = read_loss(path).signature
    assert sig.combination == (("sigmoid", 0.7), ("hinge", 0.3), ("ipo", 2.0))
    assert sig.params == ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                          "reference_rejected_logps", "chosen_lengths", "rejected_lengths", "beta")
    x = _inputs()
    parts = {n: load_loss(f"losses/{n}.py")(**x, beta=0.1) for n in ("dpo", "slic", "ipo")}
    combined = load_loss(path)(**x, beta=0.1)
    torch.testing.assert_close(combined, 0.7 * parts["dpo"] + 0.3 * parts["slic"] + 2 * parts["ipo"])


def test_weights_default_to_one_as_in_trl(tmp_path):
    path = _write(tmp_path, 'LOSS_TYPE = ["sigmoid", "sft"]\n')
    x = _inputs()
    torch.testing.assert_close(load_loss(path)(**x, beta=0.1), load_loss("losses/rpo.py")(**x, beta=0.1))


def test_the_executable_file_is_a_plain_loss_file_whose_helpers_cannot_collide(tmp_path):
    """Every component's source runs inside its own factory function, so two components with helpers of
    the same name (each of DBAQL and AQFL has module constants and helpers) keep their own."""
    path = _write(tmp_path, 'LOSS_TYPE = ["dbaql", "aqfl", "discopop"]\n')
    runs = executable(read_loss(path))
    assert runs.signature.combination == () and runs.signature.function == "loss"
    assert "exec(" not in runs.source
    x = _inputs()
    expected = sum(load_loss(f"losses/{n}.py")(**x, beta=0.05) for n in ("dbaql", "aqfl", "discopop"))
    torch.testing.assert_close(load_loss(path)(**x, beta=0.05), expected)


@pytest.mark.parametrize("source, message", [
    ('LOSS_TYPE = ["sigmoid", "sigmod"]\n', "did you mean 'sigmoid'"),
    ('LOSS_TYPE = ["sigmoid"]\nLOSS_WEIGHTS = [1, 2]\n', "list of 1 finite numbers"),
    ('LOSS_TYPE = ["sigmoid"]\nLOSS_WEIGHTS = [float("nan")]\n', "literal list"),
    ('LOSS_TYPE = ["sigmoid", "sigmoid"]\n', "names a loss twice"),
    ('LOSS_TYPE = []\n', "list of 1 to 8 loss names"),
    ('LOSS_TYPE = "sigmoid"\n', "list of 1 to 8 loss names"),
    ('import os\nLOSS_TYPE = ["sigmoid"]\n', "holds only its docstring"),
    ('LOSS_TYPE = ["rpo"]\n', "is itself a combination"),
])  # fmt: skip
def test_a_broken_list_names_the_problem_and_the_fix(source, message):
    with pytest.raises(LossFileError, match=message):
        parse_loss_source(source, "combo.py")


def test_records_keep_the_file_and_list_each_component_with_its_hash(tmp_path):
    loss = read_loss("losses/mpo.py")
    components = describe_combination(loss.signature)
    assert [(c["loss_type"], c["builtin"], c["weight"]) for c in components] == [
        ("sigmoid", "dpo", 0.8), ("bco_pair", "bco_pair", 0.2), ("sft", "sft", 1.0)]
    assert components[0]["sha256"] == read_loss("losses/dpo.py").sha256
    assert loss_provenance(loss, {}) == {"combination": components}
    assert executable(loss).sha256 != loss.sha256  # what runs is generated; the record hashes the file


def test_a_combination_runs_in_a_session_and_passes_the_check(tmp_path):
    from harness.checks import CheckConfig, check_session
    from harness.sandbox import open_session

    path = _write(tmp_path, 'LOSS_TYPE = ["sigmoid", "cdpo"]\nLOSS_WEIGHTS = [0.5, 0.5]\n')
    session = open_session(path, backend="none", trust=True, hyperparameters={"label_smoothing": 0.2})
    assert session.hyperparameters == {"label_smoothing": 0.2}
    report = check_session(session, read_loss(path).signature, CheckConfig(batch_sizes=(7,), speed_batch=7))
    assert report.valid, report.errors
    x = _inputs()
    expected = 0.5 * load_loss("losses/dpo.py")(**x, beta=0.1) + 0.5 * load_loss("losses/cdpo.py")(
        **x, beta=0.1, label_smoothing=0.2)
    torch.testing.assert_close(session.call(x, 0.1, grad=False).losses, expected)
