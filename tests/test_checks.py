"""`harness check` library: broken files are caught with clear messages, built-ins pass, and the
diagnostics report the known shapes (DiscoPOP's positive slope at rho = 0, its local extrema, ...).

Behaviour tests use an InProcessSession on these trusted test files (fast); the end-to-end tests at
the bottom go through the real sandbox (jail tier).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from harness import check_probes as probes
from harness.builtin import builtin_losses
from harness.checks import CheckConfig, check_loss_file, check_session, check_structure
from harness.lossfile import load_loss
from harness.session import InProcessSession

BROKEN = Path(__file__).parent / "broken_losses"


def check_trusted(path) -> object:
    loss = load_loss(path)
    return check_session(InProcessSession(loss), loss.signature)


def joined(report) -> str:
    return "\n".join(report.errors)


# --- structure: found from the source alone ------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("syntax_error.py", r"syntax_error.py:6:\d+: syntax error"),
        ("two_functions.py", r"several public top-level functions \(margin, my_loss\)"),
        ("unknown_parameter.py", r"unknown parameter\(s\) policy_logps, temperature .* must come from: policy_chosen_logps"),
    ],
)  # fmt: skip
def test_structure_errors_name_the_problem(name, expected):
    report, signature = check_structure(BROKEN / name)
    assert signature is None and not report.valid
    assert len(report.errors) == 1
    assert re.search(expected, report.errors[0]), report.errors[0]


def test_structure_check_of_a_missing_file_is_an_error(tmp_path):
    report, signature = check_structure(tmp_path / "nope.py")
    assert signature is None and "no such loss file" in joined(report)


# --- behaviour: each broken file fails for its own reason -----------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("scalar_output.py", "returned shape () for a batch of 1"),
        ("double_batch_output.py", "returned shape (2,) for a batch of 1"),
        ("nan_output.py", "loss values contain NaN"),
        ("inf_output.py", "loss values contain inf"),
        ("nan_gradient.py", "gradient w.r.t. policy_chosen_logps is not finite"),
        ("no_gradient.py", "does not depend on the policy log-probs (no gradient)"),
        ("raises.py", "ValueError: this loss is not implemented yet"),
        ("slow.py", "too slow: the fastest call with B=64"),
        ("wrong_dtype.py", "must have the same dtype"),
        ("nondeterministic.py", "not deterministic"),
        ("stateful.py", "not deterministic"),
    ],
)
def test_broken_behaviour_is_invalid_with_a_clear_error(name, expected):
    report = check_trusted(BROKEN / name)
    assert not report.valid
    assert expected in joined(report), joined(report)
    assert report.diagnostics.get("slope_at_zero") is None  # no diagnostics for an invalid loss


def test_paper_style_self_beta_loss_is_valid(tmp_path):
    path = tmp_path / "paper_style.py"
    path.write_text(
        "import torch.nn.functional as F\n\n\n"
        "def lrml(self, policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps):\n"
        "    logits = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)\n"
        "    return -F.logsigmoid(self.beta * logits)\n"
    )
    report = check_trusted(path)
    assert report.valid, report.errors
    assert report.function == "lrml" and "self" not in report.params
    assert report.diagnostics["slope_at_zero"] == pytest.approx(-0.025, abs=1e-6)  # self.beta = 0.05 reached it


def test_findings_name_the_failing_cases():
    dtype_report = check_trusted(BROKEN / "wrong_dtype.py")
    assert "bfloat16" in joined(dtype_report) and "float32" not in joined(dtype_report).split("(in:")[1]
    inf_report = check_trusted(BROKEN / "inf_output.py")
    assert "extreme" in joined(inf_report) and "realistic" not in joined(inf_report)


def test_one_bug_gives_one_line_not_one_per_case():
    report = check_trusted(BROKEN / "raises.py")
    assert len(report.errors) == 1 and "and 15 more" in report.errors[0]


# --- the built-in library ------------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_losses().names())
def test_every_builtin_loss_is_valid(name):
    report = check_trusted(builtin_losses().get(name).path)
    assert report.valid, report.errors
    expected_warnings = 1 if name == "zero" else 0  # the zero control has no gradient on purpose
    assert len(report.warnings) == expected_warnings, report.warnings


@pytest.fixture(scope="module")
def diagnostics():
    registry = builtin_losses()
    wanted = ("discopop", "dpo", "robust", "aql", "dbaql", "simpo", "ipo", "slic", "reversed_dpo", "zero")
    return {name: check_trusted(registry.get(name).path).diagnostics for name in wanted}


def test_discopop_slope_at_zero_is_positive_unlike_dpo(diagnostics):
    # Reference notes: at beta = 0.05, LRML's slope at rho = 0 is +0.039 and DPO's -0.025.
    assert diagnostics["discopop"]["slope_at_zero"] == pytest.approx(0.0392, abs=5e-4)
    assert diagnostics["discopop"]["pushes_at_zero"] == "away from the chosen answer"
    assert diagnostics["dpo"]["slope_at_zero"] == pytest.approx(-0.025, abs=1e-6)
    assert diagnostics["dpo"]["pushes_at_zero"] == "towards the chosen answer"
    assert diagnostics["reversed_dpo"]["slope_at_zero"] == pytest.approx(0.025, abs=1e-6)
    assert diagnostics["zero"]["pushes_at_zero"] == "flat"


def test_discopop_is_non_convex_with_the_known_extrema(diagnostics):
    # Reference notes: local minimum near rho = -2.37 and local maximum near rho = 1.44.
    d = diagnostics["discopop"]
    assert d["convex_in_rho"] is False
    assert d["local_minima"] == [pytest.approx(-2.37, abs=0.03)]
    assert d["local_maxima"] == [pytest.approx(1.44, abs=0.03)]
    assert diagnostics["dpo"]["convex_in_rho"] is True and diagnostics["dpo"]["local_minima"] == []


def test_hinge_and_ipo_minima_are_where_the_formulas_put_them(diagnostics):
    assert diagnostics["slic"]["local_minima"] == [pytest.approx(20.0, abs=0.05)]  # beta rho = 1
    assert diagnostics["ipo"]["slope_at_zero"] == pytest.approx(2 * (0 - 10) / probes.GRID_LENGTH, rel=1e-4)


def test_boundedness(diagnostics):
    assert diagnostics["dpo"]["bounded_below"] is True
    assert diagnostics["ipo"]["bounded_below"] is True
    assert diagnostics["robust"]["bounded_below"] is False  # its flipped-label term falls linearly


def test_batch_reference_and_length_dependence(diagnostics):
    assert diagnostics["aql"]["uses_batch_statistics"] and diagnostics["dbaql"]["uses_batch_statistics"]
    assert not diagnostics["dpo"]["uses_batch_statistics"]
    assert diagnostics["simpo"]["reference_free"] and not diagnostics["dpo"]["reference_free"]
    assert diagnostics["simpo"]["length_dependent"] and diagnostics["ipo"]["length_dependent"]
    assert not diagnostics["dpo"]["length_dependent"]


# --- probes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("regime", sorted(probes.REGIMES))
def test_behaviour_inputs_respect_their_ranges(dtype, regime):
    x = probes.behaviour_inputs(64, dtype, regime, 50.0, seed=3)
    lo, hi = probes.REGIMES[regime]
    logps = torch.stack([x[k].double() for k in ("policy_chosen_logps", "policy_rejected_logps",
                                                 "reference_chosen_logps", "reference_rejected_logps")])  # fmt: skip
    assert all(x[k].dtype == dtype for k in ("policy_chosen_logps", "reference_rejected_logps"))
    assert logps.max() <= hi + 1e-6 and logps.min() >= lo - 60
    rho = (logps[0] - logps[2]) - (logps[1] - logps[3])
    slack = 1e-4 if dtype == torch.float32 else 16.0  # bf16 rounds log-probs near -1000 to multiples of 4
    assert rho.abs().max() <= 50 + slack
    assert rho[1] == 0  # exactly, in every dtype
    assert x["chosen_lengths"].min() >= 1 and x["chosen_lengths"].max() <= probes.MAX_LENGTH
    if regime == "extreme":
        assert logps.min() < -900 and (logps[0] - logps[1]).abs().max() > 300


def test_rho_grid_inputs_have_the_requested_margin_and_negative_logps():
    rho = torch.tensor([-1e4, -3.0, 0.0, 2.5, 1e4])
    x = probes.rho_grid_inputs(rho)
    got = (x["policy_chosen_logps"] - x["reference_chosen_logps"]) - (x["policy_rejected_logps"] - x["reference_rejected_logps"])
    torch.testing.assert_close(got, rho)
    assert max(float(x[k].max()) for k in x if k.endswith("logps")) <= probes.GRID_LEVEL


def sides_of(curve) -> list[list[float]]:
    """Tails of a float32 curve as the check sees them (each point alone, stopping at non-finite)."""

    def call_one(rho: float) -> float:
        return float(curve(torch.tensor([rho], dtype=torch.float32)))

    return [probes.tail_side(call_one, s) for s in (1.0, -1.0)]


def test_bounded_below_heuristic_on_known_curves():
    assert probes.bounded_below(sides_of(lambda r: torch.nn.functional.softplus(-0.05 * r))) is True  # DPO
    assert probes.bounded_below(sides_of(lambda r: -0.05 * r)) is False  # linear
    assert probes.bounded_below(sides_of(lambda r: -torch.log(1 + r.abs()))) is False  # logarithmic
    exp_sides = sides_of(lambda r: torch.exp(-0.05 * r))
    assert len(exp_sides[1]) == 3  # exp(50) is finite, exp(500) overflows: judged on the finite points
    assert probes.bounded_below(exp_sides) is True
    assert probes.bounded_below(sides_of(lambda r: torch.where(r < -50, -torch.inf, r.abs()))) is False
    assert probes.bounded_below(sides_of(lambda r: r * torch.nan)) is None


def test_curve_shape_finds_vertex_and_non_convexity():
    rho = torch.linspace(-10, 10, 2001)
    parabola = probes.curve_shape(rho, (rho - 3.3) ** 2)
    assert parabola["convex_in_rho"] is True and parabola["local_minima"] == [pytest.approx(3.3, abs=0.01)]
    wave = probes.curve_shape(rho, torch.sin(rho))
    assert wave["convex_in_rho"] is False
    assert wave["local_maxima"][0] == pytest.approx(-3 * torch.pi / 2, abs=0.01)


def test_config_rejects_unknown_dtypes_and_a_speed_batch_not_checked():
    with pytest.raises(ValueError, match="float16"):
        CheckConfig(dtypes=("float16",))
    with pytest.raises(ValueError, match="speed_batch"):
        CheckConfig(batch_sizes=(1, 7))


def test_report_as_dict_has_the_contract_keys():
    report = check_trusted(builtin_losses().get("dpo").path)
    d = report.as_dict()
    assert {"valid", "errors", "warnings", "diagnostics"} <= set(d) and d["valid"] is True


# --- end to end, through the sandbox ---------------------------------------------------------------


@pytest.fixture
def jail():
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")


@pytest.mark.jail
def test_check_loss_file_discopop_in_the_jail(jail):
    report = check_loss_file(builtin_losses().get("discopop").path)
    assert report.valid and report.backend == "jail"
    assert report.diagnostics["slope_at_zero"] == pytest.approx(0.0392, abs=5e-4)


@pytest.mark.jail
def test_check_loss_file_reports_a_file_that_fails_at_import(jail):
    report = check_loss_file(BROKEN / "fails_at_import.py")
    assert not report.valid and "not_a_real_module_for_losses" in joined(report)


def test_check_loss_file_structure_error_never_opens_a_session(monkeypatch):
    import harness.sandbox

    def refuse(*args, **kwargs):
        raise AssertionError("a structurally broken file must not be executed")

    monkeypatch.setattr(harness.sandbox, "open_session", refuse)
    report = check_loss_file(BROKEN / "two_functions.py")
    assert not report.valid and report.backend == ""


@pytest.mark.jail
@pytest.mark.slow
def test_every_builtin_loss_is_valid_in_the_jail(jail):
    registry = builtin_losses()
    failures = {}
    for name in registry:
        report = check_loss_file(registry.get(name).path)
        if not report.valid or report.backend != "jail":
            failures[name] = report.errors
    assert not failures


@pytest.mark.jail
@pytest.mark.slow
def test_check_loss_file_times_out_a_hanging_loss(jail):
    report = check_loss_file(BROKEN / "hangs.py")
    assert not report.valid and joined(report).startswith("timeout")
