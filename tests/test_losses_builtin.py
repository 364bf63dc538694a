"""The built-in library: the paper's losses (not in TRL) against independent float64 formulas from the
reference notes' table, the registry, and `harness losses` (table and plot)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness.builtin import builtin_losses
from harness.cli import main

ISSUE_LOSSES = {
    "dpo", "slic", "ipo", "discopop", "padll", "cell", "dbaql", "aql", "aqfl", "pfl", "robust", "exo_pair",
    "nca_pair", "bco_pair", "sppo_hard", "apo_zero", "apo_down", "sigmoid_norm", "simpo", "orpo",
    # issue 31: TRL's missing loss types, the expressible 2024-25 losses, and the per-token ones
    "aot", "aot_unpaired", "sft", "rpo", "mpo", "cdpo", "rdpo", "dpop", "cal_dpo", "cpo", "fdpo_forward_kl",
    "fdpo_js_divergence", "fdpo_alpha_divergence", "kto_pair", "alphapo", "chipo", "wpo", "ld_dpo", "sampo",
    "tdpo",
}  # fmt: skip
PER_TOKEN = {"wpo", "ld_dpo", "sampo", "tdpo"}
BETA, TAU = 0.05, 0.05


def f_dpo(z):
    return np.logaddexp(0.0, -z)  # log(1 + e^-z)


def f_slic(z):
    return np.maximum(0.0, 1.0 - z)


def sigma(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_formula(name: str, pc, pr, rc, rr, beta):
    """The reference notes' table, written independently of the loss files (float64 numpy)."""
    rho = (pc - rc) - (pr - rr)
    x = beta * rho
    if name == "padll":
        return np.where(rho >= 0, 0.9, 0.45) * f_dpo(x)
    if name == "cell":
        return 0.5 * np.exp(-x) + 0.5 * f_dpo(x)
    if name == "dbaql":
        w = sigma(np.var(x / TAU, ddof=1))
        return w * f_dpo(x / 0.9) + (1 - w) * np.exp(-0.9 * x)
    if name == "aql":
        m = 0.5 + 0.01 * (sigma(rho.mean()) - 0.5)
        q = sigma(beta * (m - rho))
        return q * f_dpo(x) + (1 - q) * f_slic(x)
    if name == "aqfl":
        z = x / TAU
        m1 = np.std(z, ddof=1) * sigma(-z).mean()
        m2 = m1 + 0.05 * (sigma(z.mean()) - m1)
        r = sigma(0.1 * np.abs(z - m2))
        return r * f_dpo(x) + (1 - r) * f_slic(x)
    if name == "pfl":
        return np.where(pc > pr, 0.5 * f_dpo(x / TAU), 2 * f_slic(x / TAU))
    if name == "discopop":
        m = sigma(x / TAU)
        return (1 - m) * f_dpo(x) + m * np.exp(-x)
    raise KeyError(name)


def paper_batch(seed: int, batch: int = 32):
    rng = np.random.default_rng(seed)
    pc, pr = rng.uniform(-80, -5, batch), rng.uniform(-80, -5, batch)
    rc = pc - rng.uniform(-15, 15, batch)
    rr = pr - rng.uniform(-15, 15, batch)
    return pc, pr, rc, rr


@pytest.mark.parametrize("beta", [0.05, 0.2])
@pytest.mark.parametrize("name", ["padll", "cell", "dbaql", "aql", "aqfl", "pfl", "discopop"])
def test_paper_losses_match_the_reference_table(name, beta):
    pc, pr, rc, rr = paper_batch(seed=len(name))
    expected = reference_formula(name, pc, pr, rc, rr, beta)
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in zip(
        ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps"),
        (pc, pr, rc, rr), strict=True)}  # fmt: skip
    ours = builtin_losses().get(name).load()(**tensors, beta=beta)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12)
    rho = (pc - rc) - (pr - rr)
    assert (rho > 0).any() and (rho < 0).any()  # both branches of the piecewise losses are exercised


def test_batch_of_one_takes_zero_spread_for_dbaql_and_aqfl():
    one = {k: torch.tensor([v]) for k, v in (("policy_chosen_logps", -10.0), ("policy_rejected_logps", -12.0),
                                             ("reference_chosen_logps", -11.0), ("reference_rejected_logps", -11.5))}  # fmt: skip
    x = BETA * ((-10.0 + 11.0) - (-12.0 + 11.5))
    dbaql = builtin_losses().get("dbaql").load()(**one, beta=BETA)
    assert float(dbaql) == pytest.approx(0.5 * f_dpo(x / 0.9) + 0.5 * math.exp(-0.9 * x), rel=1e-6)
    aqfl = builtin_losses().get("aqfl").load()(**one, beta=BETA)
    assert torch.isfinite(aqfl).all()


def test_discopop_and_dbaql_stay_finite_where_the_naive_formula_gives_nan():
    rho = torch.tensor([-4000.0, -50.0, 0.0, 50.0, 4000.0])
    x = {"policy_chosen_logps": rho - 100, "policy_rejected_logps": torch.full_like(rho, -100.0),
         "reference_chosen_logps": torch.full_like(rho, -100.0), "reference_rejected_logps": torch.full_like(rho, -100.0)}  # fmt: skip
    with np.errstate(over="ignore", invalid="ignore"):
        naive = reference_formula("discopop", *(x[k].numpy() for k in x), BETA)
    assert np.isnan(naive[0])  # 0 * inf in m * exp(-x)
    for name in ("discopop", "dbaql"):
        out = builtin_losses().get(name).load()(**x, beta=BETA)
        assert torch.isfinite(out).all(), (name, out)


def test_registry_holds_every_issue_loss_and_the_two_controls():
    registry = builtin_losses()
    methods = {n for n in registry if not registry.get(n).control}
    controls = {n for n in registry if registry.get(n).control}
    assert methods == ISSUE_LOSSES
    assert controls == {"zero", "reversed_dpo"}
    for name in registry:
        loss = registry.get(name)
        assert loss.path.is_file() and loss.description and not loss.description.endswith(":")
    assert registry.get("simpo").declares_reference is False and registry.get("dpo").declares_reference


def test_registry_suggests_a_close_name():
    with pytest.raises(KeyError, match="Did you mean 'discopop'"):
        builtin_losses().get("discopo")


def test_controls_behave_as_documented():
    registry = builtin_losses()
    gen = torch.Generator().manual_seed(0)
    x = {k: -torch.rand(8, generator=gen) * 30 for k in (
        "policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")}  # fmt: skip
    zero = registry.get("zero").load()(**x, beta=BETA)
    assert torch.equal(zero.abs(), torch.zeros(8))
    swapped = dict(x, policy_chosen_logps=x["policy_rejected_logps"], policy_rejected_logps=x["policy_chosen_logps"],
                   reference_chosen_logps=x["reference_rejected_logps"], reference_rejected_logps=x["reference_chosen_logps"])  # fmt: skip
    torch.testing.assert_close(registry.get("reversed_dpo").load()(**x, beta=BETA),
                               registry.get("dpo").load()(**swapped, beta=BETA))  # fmt: skip


def test_losses_table_json_marks_batch_and_reference_dependence():
    result = CliRunner().invoke(main, ["losses", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == ISSUE_LOSSES | {"zero", "reversed_dpo"}
    # the batch statistics: sorting (AOT), the batch's token-mean NLL (TRL's sft, and RPO, MPO, CPO on it), KTO's
    # batch KL estimates; the per-token losses are not (SamPO seeds each example's draw from its own data)
    assert {n for n, r in rows.items() if r["batch_dependent"]} == {
        "dbaql", "aql", "aqfl", "aot", "aot_unpaired", "sft", "rpo", "mpo", "cpo", "kto_pair"}
    assert {n for n, r in rows.items() if r["reference_free"]} == {"simpo", "orpo", "zero", "sft", "cpo", "alphapo"}
    assert {n for n, r in rows.items() if r["inputs"] == "per-token"} == PER_TOKEN
    assert rows["discopop"]["description"].startswith("DiscoPOP (LRML")
    assert rows["ld_dpo"]["hyperparameters"] == {"ld_alpha": {"default": 0.5, "range": [0.0, 1.0]}}
    assert rows["mpo"]["combination"] == [{"loss_type": "sigmoid", "weight": 0.8},
                                          {"loss_type": "bco_pair", "weight": 0.2}, {"loss_type": "sft", "weight": 1.0}]
    for name in ISSUE_LOSSES:  # every method cites its source: authors and year
        assert re.search(r"(et al\.|Mitchell) 20\d\d", rows[name]["citation"]), (name, rows[name]["citation"])


def test_losses_table_is_readable():
    result = CliRunner().invoke(main, ["losses"])
    assert result.exit_code == 0
    header = result.output.splitlines()[0]
    for column in ("name", "inputs", "reference-free", "batch-dependent", "hyper-parameters", "description, source"):
        assert column in header
    assert "ld_alpha=0.5 [0, 1]" in result.output and "Liu et al. 2024" in result.output


def test_losses_plot_writes_a_png(tmp_path):
    out = tmp_path / "fig" / "losses.png"
    result = CliRunner().invoke(main, ["losses", "--plot", str(out), "--names", "dpo,discopop,aql", "--beta", "0.1"])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_losses_plot_derivative_is_exact_for_discopop():
    from harness.lossplot import loss_curve

    rho = torch.linspace(-5, 5, 101)
    values, slope = loss_curve(builtin_losses().get("discopop"), rho, BETA, batch_statistics=False)
    assert float(slope[50]) == pytest.approx(0.0392, abs=5e-4)  # rho = 0
    fd = np.gradient(values.numpy(), rho.double().numpy())
    np.testing.assert_allclose(slope.numpy()[1:-1], fd[1:-1], atol=2e-4)


@pytest.mark.parametrize("args", [["--plot", "x.png", "--names", "dpo,nope"], ["--names", "dpo"]])
def test_losses_usage_errors_exit_2(tmp_path, args):
    result = CliRunner().invoke(main, ["losses", *[str(tmp_path / a) if a.endswith(".png") else a for a in args]])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
