"""The science on the full-size tiny suite (slow tier): the controls separate as the paper's IMDb
experiment predicts. One suite build is shared by every test (session fixture)."""

import pytest

from harness.bench import run_bench
from harness.paths import repo_root

pytestmark = pytest.mark.slow
LOSSES = repo_root() / "losses"
SEEDS = 2  # two seeds keep the tier at a few minutes on an idle 2-core machine; the CI spans both


@pytest.fixture(scope="session")
def suite_home():
    """The user's suite cache (HARNESS_HOME, else ~/.cache/harness): the full-size tiny suite is built
    once per machine (about three minutes), and run_bench stores nothing there."""
    from harness.paths import harness_home

    return harness_home()


def _run(path, out, **kw):
    record = run_bench(path, seeds=kw.pop("seeds", SEEDS), progress=False, **kw)
    assert record["status"] == "ok", record["error"]
    return record["metrics"], record


def test_dpo_beats_the_reference(suite_home, tmp_path):
    m, _ = _run(LOSSES / "dpo.py", tmp_path)
    assert m["win_rate_ci"][0] > 0.5, m
    assert not m["censored"]  # DPO at beta 0.1 reaches the 2-nat budget within 128 steps


def test_reversed_dpo_loses_to_the_reference(suite_home, tmp_path):
    m, _ = _run(LOSSES / "controls" / "reversed_dpo.py", tmp_path)
    assert m["win_rate_ci"][1] < 0.5, m


def test_zero_loss_stays_at_the_reference(suite_home, tmp_path):
    m, record = _run(LOSSES / "controls" / "zero.py", tmp_path)
    # it never moves, so the KL budget is never reached: every seed censored, no number invented
    assert m["censored"] and m["censored_seeds"] == len(record["seeds"]) and m["win_rate"] is None, m
    lo, hi = m["win_rate_end_ci"]  # and it ends where it started: the measured null (step 0)
    assert lo <= m["win_rate_reference"] <= hi, m
    assert abs(m["kl"]) < 0.02, m


def test_identical_runs_give_identical_metrics(suite_home, tmp_path):
    short = {"train.steps": 32}
    a = run_bench(LOSSES / "dpo.py", seeds=1, progress=False, overrides=short)
    b = run_bench(LOSSES / "dpo.py", seeds=1, progress=False, overrides=short)
    assert a["status"] == b["status"] == "ok"
    assert a["per_seed"] == b["per_seed"] and a["metrics"] == b["metrics"]
