"""The tiny matched-KL evaluation's outcomes: per-prompt tables in the record, the all-references
score, crossings that are measured / censored / unresolved (never interpolated across a jump; a jump
is bisected on the run's own weights), the step-0 null and --seeds auto. Micro-sized suite, in-process loss (trusted
built-in) so that the evaluation, not the sandbox, is under test."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_bench import DPO, MICRO, MICRO_ARGS, home  # noqa: F401  (the shared micro suite)

from harness.bench import run_bench
from harness.records import validate_record
from harness.stats.crossed import win_rate_ci
from harness.stats.intervals import clopper_pearson_ci
from harness.suites.tiny import budget
from harness.suites.tiny.metrics import EvalConfig, aggregate
from harness.suites.tiny.stability import burst_fields

P = MICRO["data.eval_prompts"]


def _bench(tmp_path, seeds=2, **overrides):
    record = run_bench(DPO, seeds=seeds, progress=False, overrides={**MICRO, **overrides}, backend="none",
                       trust=True)
    assert record["status"] == "ok", record["error"]
    return validate_record(record)


class _Point:
    def __init__(self, step, kl, win=None):
        self.step, self.kl = step, kl
        self.win = np.full(3, step / 100.0) if win is None else win


def test_narrow_bracket_is_interpolated_and_a_jump_is_bisected_not_interpolated():
    narrow = budget.locate([_Point(0, 0.0), _Point(16, 1.8), _Point(32, 2.2)], 2.0)
    assert narrow.status == "measured" and narrow.step == pytest.approx(24.0)
    jump = budget.locate([_Point(0, 0.0), _Point(16, 0.3), _Point(32, 40.0)], 2.0)
    assert jump.status == "jump" and jump.scores("win") is None
    kls = {s: 0.3 + 0.25 * (s - 16) for s in range(16, 33)}  # 0.25 nats per step: resolvable
    asked = []

    def at(step):
        asked.append(step)
        return _Point(step, kls[step])

    done = budget.refine(jump, 2.0, at)
    assert done.status == "measured" and done.cur.kl - done.prev.kl <= budget.MAX_BRACKET_KL
    assert done.prev.kl < 2.0 <= done.cur.kl and done.refined == len(asked) <= 4
    cliff = budget.refine(jump, 2.0, lambda s: _Point(s, 0.3 if s < 20 else 40.0))
    assert cliff.status == "unresolved" and "1/16 of an optimizer step" in cliff.reason and cliff.scores("win") is None
    assert cliff.cur.step - cliff.prev.step == 1 / 16
    whole = budget.refine(jump, 2.0, lambda s: _Point(s, 0.3 if s < 20 else 40.0), substep_bisections=0)
    assert whole.status == "unresolved" and "one optimizer step" in whole.reason
    never = budget.locate([_Point(0, 0.0), _Point(16, 0.5)], 2.0)
    assert never.status == "censored" and never.scores("win") is None


def test_a_jump_inside_one_optimizer_step_is_bisected_on_fractional_steps():
    """1.8 -> 2.6 nats between steps 72 and 73 (DPO seed 2 on the board): fractional steps resolve it."""
    jump = budget.locate([_Point(64, 1.2), _Point(80, 3.2)], 2.0)
    kl = lambda s: 1.8 if s <= 72 else 1.8 + 0.8 * min(1.0, s - 72) + (0.1 * (s - 73) if s > 73 else 0)  # noqa: E731
    asked = []

    def at(step):
        asked.append(step)
        return _Point(step, kl(step))

    done = budget.refine(jump, 2.0, at)
    assert done.status == "measured" and done.cur.kl - done.prev.kl <= budget.MAX_BRACKET_KL
    assert 72 <= done.prev.step < done.cur.step <= 73 and done.prev.kl < 2.0 <= done.cur.kl
    assert any(not float(s).is_integer() for s in asked)  # fractional steps were evaluated
    assert done.summary()["bracket_steps"] == [72, 72.5] and done.summary()["step"] == pytest.approx(72.25)


def test_eval_config_bound_is_the_justified_one():
    assert EvalConfig().max_bracket_kl == budget.MAX_BRACKET_KL


def test_record_outcomes_follow_the_contract(home, tmp_path):  # noqa: F811
    record = _bench(tmp_path, **{"eval.kl_budgets": [0.05, 0.02]})
    out = record["outcomes"]
    assert out["primary"] == "verdict" and len(out["prompts_sha256"]) == 64
    assert set(out["tables"]) == {"verdict", "kl0.02", "end", "reference"}
    assert out["seed_status"] == [s["status"] for s in record["per_seed"]]
    for name, table in out["tables"].items():
        assert len(table) == len(record["seeds"]), name
        for row in table:
            assert row is None or (len(row) == P and all(0 <= x <= 1 and round(x, 4) == x for x in row)), name
    m = record["metrics"]
    rows = [r for r in out["tables"]["verdict"] if r is not None]
    assert m["measured_seeds"] == len(rows)
    if rows:  # the headline is the mean of the measured rows, recomputable from the record
        assert m["win_rate"] == pytest.approx(np.mean(rows))
    assert m["win_rate_reference"] == pytest.approx(np.mean(out["tables"]["reference"]))
    # the reference table is step 0 (the policy is the reference model), scored the same way
    for s, row in zip(record["per_seed"], out["tables"]["reference"], strict=True):
        assert s["trajectory"][0]["win_rate"] == pytest.approx(np.mean(row), abs=1e-4)
    assert "paired with step 0" in m["verdict"] or m["measured_seeds"] == 0
    est = win_rate_ci(out["tables"]["end"])  # the printed SEM is the one the CI is built from
    assert m["win_rate_end_ci"] == pytest.approx([est.low, est.high]) and m["win_rate_end_sem"] == est.sem
    assert (est.high - est.low) / 2 == pytest.approx(est.quantile * m["win_rate_end_sem"])
    for s in record["per_seed"]:  # the stability diagnostic: per seed from its trajectory, per run a rate
        assert {k: s[k] for k in ("burst", "burst_step", "burst_kind")} == burst_fields(s["trajectory"])
    assert m["burst_seeds"] == sum(s["burst"] for s in record["per_seed"])
    assert m["burst_rate_ci"] == pytest.approx(list(clopper_pearson_ci(m["burst_seeds"], len(record["seeds"]))))
    json.dumps(record)


def test_all_references_average_every_comparison_and_one_reference_is_the_diagonal(home, tmp_path):  # noqa: F811
    both = _bench(tmp_path / "a", seeds=1)
    one = _bench(tmp_path / "b", seeds=1, **{"eval.comparisons": "one-reference"})
    a, b = np.array(both["outcomes"]["tables"]["end"][0]), np.array(one["outcomes"]["tables"]["end"][0])
    k = MICRO.get("eval.sample.samples_per_prompt", 4)
    # means of k x k (resp. k) comparisons of 1 / 0.5 / 0, rounded to 4 decimals
    assert np.allclose(a * 2 * k * k, np.round(a * 2 * k * k), atol=0.01)
    assert np.allclose(b * 2 * k, np.round(b * 2 * k), atol=0.01)
    assert not np.allclose(a * 2 * k, np.round(a * 2 * k), atol=0.01)  # finer than one reference allows
    assert both["suite"]["config_hash"] != one["suite"]["config_hash"]


def test_no_measured_seed_leaves_the_headline_empty_not_invented(home, tmp_path):  # noqa: F811
    record = _bench(tmp_path, **{"eval.kl_budgets": [500.0, 400.0]})
    m, out = record["metrics"], record["outcomes"]
    assert out["seed_status"] == ["censored", "censored"]
    assert out["tables"]["verdict"] == [None, None] and out["tables"]["end"][0] is not None
    assert m["win_rate"] is None and m["win_rate_ci"] is None and m["censored_seeds"] == 2
    assert m["verdict"].startswith("not measured")
    from harness.report import render_record as render

    assert "not measured" in render({**record, "path": "x"})


def test_a_jump_is_bisected_on_the_runs_own_weights(home, tmp_path):  # noqa: F811
    overrides = {"train.steps": 8, "train.checkpoint_every": 4, "eval.kl_budgets": [0.6, 0.3],
                 "eval.max_bracket_kl": 0.25}
    record = _bench(tmp_path, **overrides)
    dense = 0
    for s in record["per_seed"]:
        for key, b in (("crossing", 0.6), ("crossing_kl0.3", 0.3)):
            c = s[key]
            dense += c["dense_checkpoints"]
            if c["status"] == "measured":
                lo, hi = c["bracket_kl"]
                assert hi - lo <= 0.25 + 1e-9 and lo < b <= hi
            elif c["status"] == "unresolved":
                assert c["bracket_steps"][1] - c["bracket_steps"][0] == 1 / 16, c
    assert dense > 0, record["per_seed"]
    assert record["timings"]["dense"] > 0
    again = _bench(tmp_path, **overrides)  # deterministic, dense evaluation included
    assert again["outcomes"] == record["outcomes"]


def test_dense_evaluation_equals_a_run_that_checkpoints_at_that_step(home, tmp_path):  # noqa: F811
    """Bisecting on kept weights gives bit for bit what a re-run evaluating at that step gives."""
    base = {"train.steps": 8, "eval.kl_budgets": [0.05], "eval.max_bracket_kl": 0.001,
            "eval.substep_bisections": 0}  # whole steps: a run checkpointing every step has them all
    coarse = _bench(tmp_path, seeds=1, **base, **{"train.checkpoint_every": 8})
    fine = _bench(tmp_path, seeds=1, **base, **{"train.checkpoint_every": 1})
    c = coarse["per_seed"][0]["crossing"]
    assert c["dense_checkpoints"] > 0, c
    kl_at = {p["step"]: round(p["kl"], 4) for p in fine["per_seed"][0]["trajectory"]}
    for step, kl in zip(c["bracket_steps"], c["bracket_kl"], strict=True):
        assert kl_at[step] == kl, (step, kl, kl_at)
    assert fine["per_seed"][0]["crossing"]["bracket_steps"] == c["bracket_steps"]
    assert fine["outcomes"]["tables"]["end"] == coarse["outcomes"]["tables"]["end"]


def test_aggregate_keeps_censored_and_unresolved_out_of_the_headline():
    cfg = EvalConfig(kl_budgets=(2.0,))
    rows = [np.full(4, 0.9), None, None]
    per_seed = [{"seed": i, "status": st, "kl": 1.0, "fluency": 1.0, "mean_length": 5.0, "distinct_1": 0.5,
                 "distinct_2": 0.5, "burst": st == "unresolved"}
                for i, st in enumerate(["measured", "censored", "unresolved"])]
    arrays = [{"verdict": r, "end": np.full(4, 0.2), "reference": np.full(4, 0.5), "reward": None if r is None
               else np.zeros(4), "reward_end": np.zeros(4)} for r in rows]
    m = aggregate(per_seed, arrays, cfg, ["a", "b", "c", "d"])
    assert m["win_rate"] == pytest.approx(0.9)  # the measured seed only, never averaged with the others
    assert (m["measured_seeds"], m["censored_seeds"], m["unresolved_seeds"]) == (1, 1, 1)
    assert m["win_rate_end"] == pytest.approx(0.2)
    assert m["outcomes"]["seed_status"] == ["measured", "censored", "unresolved"]
    assert (m["burst_seeds"], m["burst_rate"]) == (1, pytest.approx(1 / 3))  # every seed counts, measured or not


@pytest.mark.parametrize("target, expect", [(0.49, "<= target"), (0.0001, "cap of 3")])
def test_seeds_auto_stops_at_the_target_or_the_cap(home, tmp_path, target, expect):  # noqa: F811
    args = ["bench", "--loss", str(DPO), "--seeds", "auto", "--seeds-target", str(target), "--seeds-cap", "3",
            "--backend", "none", "--trust", "--out", str(tmp_path), "--json", *MICRO_ARGS,
            "--set", "eval.kl_budgets=[0.02]"]
    result = CliRunner().invoke(__import__("harness.cli").cli.main, args)
    assert result.exit_code in (0, 1), result.output
    record = json.loads(result.stdout)
    auto = record["metrics"]["seeds_auto"]
    assert expect in auto["stopped"] and auto["seeds"] == len(record["seeds"]) == len(record["per_seed"])
    assert auto["seeds"] == (3 if expect.startswith("cap") else 2) or "<= target" in auto["stopped"]


def test_seeds_auto_options_need_auto():
    result = CliRunner().invoke(__import__("harness.cli").cli.main,
                                ["bench", "--loss", str(DPO), "--seeds", "2", "--seeds-cap", "4"])
    assert result.exit_code == 2 and "--seeds auto" in result.output


def test_a_fractional_step_is_the_step_with_its_learning_rate_scaled():
    """budget.py's premise: for AdamW (training's optimizer, TRL's default), theta_t + a (theta_{t+1} -
    theta_t) is exactly step t+1 taken with learning rate a * lr (same gradient, same moments)."""
    import copy

    import torch

    from harness.train import TrainConfig, dpo_args

    assert dpo_args(TrainConfig(), beta=0.1, seed=0, output_dir="x").optim in ("adamw_torch", "adamw_torch_fused")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    x, y = torch.randn(32, 6), torch.randn(32, 1)

    def step(m, o):
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        o.step()

    for _ in range(3):
        step(model, opt)
    before = [p.detach().clone() for p in model.parameters()]
    full = copy.deepcopy((model, opt))
    step(*full)
    for a in (0.25, 0.5):
        part = copy.deepcopy((model, opt))
        for group in part[1].param_groups:
            group["lr"] *= a
        step(*part)
        for p0, p1, pa in zip(before, full[0].parameters(), part[0].parameters(), strict=True):
            assert torch.allclose(pa, p0 + a * (p1 - p0), atol=1e-7, rtol=0)
