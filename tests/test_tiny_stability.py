"""The tiny suite's stability diagnostic (harness.suites.tiny.stability): when a seed bursts, the run's
burst rate with its Clopper-Pearson interval (a record made with the Wilson one still verifies), old records read from their trajectories, the summary line, and
the regime study counting bursts with the very same definition."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from harness.stats.intervals import clopper_pearson_ci, wilson_ci
from harness.suites.tiny import TinySuite
from harness.suites.tiny.stability import (
    BURST_NATS,
    FLUENCY,
    KL_FALL,
    KL_RISE,
    Burst,
    burst_fields,
    burst_metrics,
    first_burst,
    record_bursts,
    seed_bursts,
)
from harness.suites.tiny.summary import summary

ROOT = Path(__file__).resolve().parent.parent
BOARD = sorted((ROOT / "leaderboards" / "archive" / "tiny-v1" / "records").glob("*.json"))  # frozen v1 records, no burst fields


def _traj(kls, fluency=None, every=16):
    fluency = fluency or [0.94] * len(kls)
    return [{"step": every * i, "kl": k, "fluency": f, "win_rate": 0.5, "reward": 0.0}
            for i, (k, f) in enumerate(zip(kls, fluency, strict=True))]


@pytest.mark.parametrize("kls, fluency, expect", [
    ([0.0, 0.4, 1.1, 1.9, 2.6], None, None),  # calm: steady growth through the budget
    ([0.0, 0.4, 1.1, 3.11, 3.5], None, Burst(48, KL_RISE, pytest.approx(2.01))),
    ([0.0, 0.4, 3.0, 0.9, 1.2], None, Burst(32, KL_RISE, pytest.approx(2.6))),  # first of two
    ([0.0, 0.4, 1.9, 2.5, 0.2], None, Burst(64, KL_FALL, pytest.approx(-2.3))),  # a collapse back
    ([0.0, 1.0, 3.0, 4.0], None, None),  # exactly the budget in one interval is not above it
    ([0.0, 0.3, 0.6, 0.9], [0.94, 0.88, 0.32, 0.9], Burst(32, FLUENCY, 0.32)),
    ([0.0, 0.3, 0.6, 0.9], [0.94, 0.88, 0.47, 0.9], None),  # exactly half of step 0 is not below it
    ([0.0, 0.3, 2.5, 0.9], [0.94, 0.88, 0.1, 0.9], Burst(32, KL_RISE, pytest.approx(2.2))),  # KL named first
])
def test_first_burst(kls, fluency, expect):
    assert first_burst(_traj(kls, fluency)) == expect


@pytest.mark.parametrize("bad, message", [
    ([], "empty trajectory"),
    ([{"step": 0, "kl": 0.0, "fluency": 0.9}, {"step": 16, "kl": 0.5}], r"trajectory\[1\]\.fluency"),
    ([{"step": 0, "kl": 0.0, "fluency": 0.9}, {"step": 16, "kl": "1", "fluency": 0.9}], r"trajectory\[1\]\.kl"),
    ([{"step": 0, "kl": 0.0, "fluency": float("nan")}], "finite"),
    ([{"step": 16, "kl": 0.0, "fluency": 0.9}], "step 0"),
])
def test_a_malformed_trajectory_is_refused_with_the_field_named(bad, message):
    with pytest.raises(ValueError, match=message):
        first_burst(bad)


def test_burst_fields_and_run_metrics_with_a_clopper_pearson_interval():
    seeds = [burst_fields(_traj([0.0, 0.5, 1.0])), burst_fields(_traj([0.0, 3.0, 3.2])),
             burst_fields(_traj([0.0, 0.5, 1.0]))]
    assert seeds[0] == {"burst": False, "burst_step": None, "burst_kind": None}
    assert seeds[1] == {"burst": True, "burst_step": 16, "burst_kind": KL_RISE}
    m = burst_metrics(seeds)
    assert m["burst_seeds"] == 1 and m["burst_rate"] == pytest.approx(1 / 3)
    # Clopper-Pearson (1934) by hand: the beta quantiles of the exact interval
    from scipy.stats import beta
    k, n = 1, 3
    assert m["burst_rate_ci"] == pytest.approx([beta.ppf(0.025, k, n - k + 1), beta.ppf(0.975, k + 1, n - k)], abs=1e-6)
    none = burst_metrics([{"burst": False}] * 3)["burst_rate_ci"]  # k = 0: [0, 1 - 0.025^(1/3)], not a point
    assert none[0] == 0.0 and none[1] == pytest.approx(1 - 0.025 ** (1 / 3))
    z = 1.959964  # Wilson (1927) by hand: what records made before carry
    centre, half = (k / n + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_ci(k, n) == pytest.approx((centre - half, centre + half), abs=1e-6)
    with pytest.raises(ValueError, match="boolean 'burst'"):
        burst_metrics([{"burst": True}, {"seed": 1}])
    for ci in (wilson_ci, clopper_pearson_ci):
        with pytest.raises(ValueError, match="0 <= k <= n"):
            ci(4, 3)


@pytest.mark.parametrize("n", [3, 5, 6, 14])
def test_the_burst_rate_interval_covers_at_every_true_rate(n):
    """Exact coverage (binomial sums): Clopper-Pearson >= 0.95 at every rate; Wilson, used before,
    falls to ~0.83 at the low rates of a calm suite (why burst rates moved)."""
    from scipy.stats import binom

    def coverage(ci, p):
        return sum(binom.pmf(k, n, p) for k, (lo, hi) in enumerate(intervals[ci]) if lo <= p <= hi)

    intervals = {ci: [ci(k, n) for k in range(n + 1)] for ci in (clopper_pearson_ci, wilson_ci)}
    grid = np.concatenate([np.linspace(0.001, 0.1, 199), np.linspace(0.1, 0.999, 181)])  # Wilson dips near 1/(2n)
    assert min(coverage(clopper_pearson_ci, p) for p in grid) >= 0.95
    assert min(coverage(wilson_ci, p) for p in grid) < 0.86


def test_an_old_record_is_read_from_its_trajectories_a_new_one_from_its_fields():
    old = json.loads(BOARD[0].read_text())
    assert "burst" not in old["per_seed"][0] and "burst_rate" not in old["metrics"]  # made before the diagnostic
    read = record_bursts(old)
    assert [f["burst"] for f in read["per_seed"]] == [seed_bursts(s) for s in old["per_seed"]]
    new = copy.deepcopy(old)
    for s in new["per_seed"]:
        s.update(burst=True, burst_step=16.0, burst_kind=KL_FALL)  # the record's own fields win
    assert record_bursts(new)["burst_seeds"] == len(new["per_seed"])
    for s in old["per_seed"]:
        s.pop("trajectory")
    assert record_bursts(old) is None  # nothing to test: n/a, not "calm"
    assert record_bursts({"per_seed": [{"trajectory": [{"step": 0, "kl": "x"}]}]}) is None
    assert record_bursts({"per_seed": [{"trajectory": 5}]}) is None
    assert record_bursts({"per_seed": []}) is None and record_bursts({}) is None


def test_the_summary_shows_bursts_as_a_rate_with_its_interval():
    record = next(r for r in (json.loads(p.read_text()) for p in BOARD) if r["loss"]["name"] == "aql")
    s = summary(record)
    row = next(r for r in s.rows if r.label == "bursts")
    bursts = record_bursts(record)
    k, n = bursts["burst_seeds"], len(record["per_seed"])
    lo, hi = bursts["burst_rate_ci"]
    assert 0 < k < n and row.value == f"{k}/{n} seeds ({k / n:.2f}, 95% CI [{lo:.2f}, {hi:.2f}])"
    column = [r[-1] for r in s.seed_rows]
    assert sum(c != "-" for c in column) == k and any(c.startswith(f"{KL_RISE} @ ") for c in column)
    for seed in record["per_seed"]:
        seed.pop("trajectory")
    bare = summary(record)
    assert next(r for r in bare.rows if r.label == "bursts").value.startswith("n/a")
    assert {r[-1] for r in bare.seed_rows} == {"n/a"}


def test_the_tiny_board_has_a_burst_rate_column():
    column = next(c for c in TinySuite.board_columns if c.key == "burst_rate")
    assert column.ci


def _study():
    spec = importlib.util.spec_from_file_location("regime_study", ROOT / "benchmarks" / "experiments" /
                                                  "regime_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _preregistered(seed_entry: dict) -> bool:
    """The regime study's seed_bursts as committed before its runs (7fbab69), verbatim."""
    traj = seed_entry.get("trajectory") or []
    if not traj:
        return False
    fluency0 = traj[0].get("fluency") or 0.0
    for prev, cur in zip(traj, traj[1:], strict=False):
        if abs(cur["kl"] - prev["kl"]) > 2.0:
            return True
    return any((c.get("fluency") or 0.0) < 0.5 * fluency0 for c in traj[1:])


def test_the_regime_study_counts_bursts_with_this_definition(tmp_path):
    study = _study()
    entries = [s for p in BOARD for s in json.loads(p.read_text())["per_seed"]]
    assert any(_preregistered(s) for s in entries) and not all(_preregistered(s) for s in entries)
    rng = np.random.default_rng(0)
    for _ in range(500):  # random trajectories around both thresholds
        n = int(rng.integers(1, 10))
        kls = np.cumsum(np.r_[0.0, rng.choice([0.3, 1.9, 2.0, 2.1, -2.1, 5.0], n - 1)])
        flu = np.r_[0.94, rng.choice([0.9, 0.47, 0.46, 0.3], n - 1)]
        entries.append({"trajectory": _traj(list(kls), list(flu))})
    entries.append({"trajectory": []})
    for s in entries:
        assert seed_bursts(s) == _preregistered(s), s
    some = [s for s in entries if s.get("trajectory")][:40]
    record = {"status": "ok", "seeds": list(range(len(some))), "per_seed": some, "metrics": {},
              "timings": {"total": 1.0}}
    for loss in study.LOSSES:
        (tmp_path / f"{loss}.json").write_text(json.dumps(record))
    study.record_path = lambda regime, loss: tmp_path / f"{loss}.json"
    row = study.summarise("beta0.5")  # the study's table counts what the suite reports
    assert row["bursts"] == sum(_preregistered(s) for s in some) * len(study.LOSSES) > 0
    assert BURST_NATS == 2.0


def _with_burst_fields(record: dict) -> dict:
    record = copy.deepcopy(record)
    for seed in record["per_seed"]:
        seed.update(burst_fields(seed["trajectory"]))
    record["metrics"].update(burst_metrics(record["per_seed"]))
    return record


def test_a_board_refuses_burst_fields_edited_after_the_run():
    from harness.leaderboard.proof import ProofError, check_aggregates

    old = next(r for r in (json.loads(p.read_text()) for p in BOARD) if r["loss"]["name"] == "aql")
    check_aggregates(old)  # made before the diagnostic: nothing to contradict
    record = _with_burst_fields(old)
    check_aggregates(record)
    i = next(i for i, s in enumerate(record["per_seed"]) if s["burst"])
    hidden = copy.deepcopy(record)  # a burst hidden consistently in the seed and the run
    hidden["per_seed"][i].update(burst=False, burst_step=None, burst_kind=None)
    hidden["metrics"].update(burst_metrics(hidden["per_seed"]))
    with pytest.raises(ProofError, match=rf"per_seed\[{i}\] burst fields .* disagree with its trajectory"):
        check_aggregates(hidden)
    lowered = copy.deepcopy(record)
    lowered["metrics"]["burst_rate"] = 0.0
    with pytest.raises(ProofError, match=r"metrics\.burst_rate is 0\.0, but the seeds' burst flags give"):
        check_aggregates(lowered)
    made_before = copy.deepcopy(record)  # a record made when burst rates had the Wilson interval
    k, n = record["metrics"]["burst_seeds"], len(record["per_seed"])
    made_before["metrics"]["burst_rate_ci"] = list(wilson_ci(k, n))
    check_aggregates(made_before)
    widened = copy.deepcopy(record)  # any other interval is an edit
    widened["metrics"]["burst_rate_ci"] = [0.0, 1.0]
    with pytest.raises(ProofError, match=r"metrics\.burst_rate_ci is \[0\.0, 1\.0\]"):
        check_aggregates(widened)
    stripped = copy.deepcopy(record)
    del stripped["metrics"]["burst_rate_ci"]
    with pytest.raises(ProofError, match=r"metrics\.burst_rate_ci is None"):
        check_aggregates(stripped)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(burst="yes"), r"per_seed\[0\]\.burst must be true or false"),
    (lambda s: s.update(burst_step="<b>16</b>"), r"per_seed\[0\]\.burst_step must be a finite number"),
    (lambda s: s.update(burst_kind=["kl_rise"]), r"per_seed\[0\]\.burst_kind must be a string"),
    (lambda s: s["trajectory"][1].update(fluency="0.9"), r"per_seed\[0\]\.trajectory\[1\]\.fluency"),
])
def test_a_board_refuses_malformed_burst_fields(edit, message):
    from harness.leaderboard.verify import VerificationError, verify_integrity

    record = _with_burst_fields(json.loads(BOARD[0].read_text()))
    verify_integrity(record, "tiny")
    edit(record["per_seed"][0])
    with pytest.raises(VerificationError, match=message):
        verify_integrity(record, "tiny")


def test_the_board_shows_burst_rates_and_leaves_them_out_where_unknown():
    import csv
    import io

    from harness.leaderboard.board import build_board
    from harness.leaderboard.render_csv import render_csv
    from harness.leaderboard.render_html import render_html
    from harness.leaderboard.render_json import render_json
    from harness.leaderboard.render_md import render_table
    from harness.seal import seal

    # the frozen v1 records, sealed here as this board's process would seal them (the test board key)
    records = [(f"records/{p.name}", seal(json.loads(p.read_text()), {"verified": True})) for p in BOARD[:4]]
    config_hash = records[0][1]["suite"]["config_hash"]
    board = build_board("tiny", config_hash, records)
    shown = [*board.entries, *board.apart]
    expected = {r["loss"]["sha256"]: record_bursts(r) for _, r in records}
    for e in shown:
        assert e.metric("burst_seeds") == expected[e.sha256]["burst_seeds"]
        assert list(e.metric("burst_rate_ci")) == expected[e.sha256]["burst_rate_ci"]
    text = render_table(board)
    assert "bursts" in text and f"{shown[0].metric('burst_seeds')}/{shown[0].seeds} [" in text
    entry = json.loads(render_json(board))["entries"][0]
    assert entry["burst_rate"] == entry["burst_seeds"] / entry["seeds"] and len(entry["burst_rate_ci"]) == 2
    row = next(csv.DictReader(io.StringIO(render_csv(board))))
    assert float(row["burst_rate_ci_low"]) <= float(row["burst_rate"]) <= float(row["burst_rate_ci_high"])
    assert ">Bursts<" in render_html(board)
    for _, record in records:  # no trajectories to test (as on suites without a KL): n/a, column left out
        for seed in record["per_seed"]:
            seed.pop("trajectory")
    records = [(path, seal(record, {"verified": True})) for path, record in records]  # edited: sealed again
    bare = build_board("tiny", config_hash, records)
    assert all(e.metric("burst_seeds") is None for e in (*bare.entries, *bare.apart))
    assert "bursts" not in render_table(bare).splitlines()[2]
    assert json.loads(render_json(bare))["entries"][0]["burst_rate"] is None


def test_the_summary_reads_the_calm_seeds_beside_the_burst_rate():
    """The calm-seed reading: the primary table's interval over the seeds that did not burst."""
    from harness.stats.crossed import win_rate_ci
    from harness.suites.tiny.summary import calm_text

    records = [json.loads(p.read_text()) for p in sorted((ROOT / "leaderboards" / "tiny" / "records").glob("*.json"))]
    mixed = next(r for r in records if r["loss"]["name"] == "discopop")  # tiny v2: 1 of 3 seeds burst
    bursts = record_bursts(mixed)
    flags = [f["burst"] for f in bursts["per_seed"]]
    assert 0 < sum(flags) < len(flags)
    rows = mixed["outcomes"]["tables"][mixed["outcomes"]["primary"]]
    calm = [r for r, burst in zip(rows, flags, strict=True) if not burst and r is not None]
    est = win_rate_ci(calm)
    text = calm_text(mixed, bursts)
    assert text.startswith(f"{100 * est.mean:.1f}% [{100 * est.low:.1f}, {100 * est.high:.1f}]")
    assert text.endswith(f"({len(calm)} calm seeds)") and abs(est.mean - mixed["metrics"]["win_rate"]) > 0.01
    row = next(r for r in summary(mixed).rows if "calm seeds only" in r.label)
    assert row.value == text
    calm_record = next(r for r in records if (record_bursts(r) or {}).get("burst_seeds") == 0)
    assert calm_text(calm_record, record_bursts(calm_record)) == "the primary above (no seed burst)"
    unstable = next(r for r in records if (b := record_bursts(r)) and b["burst_seeds"] == len(r["per_seed"]))
    assert calm_text(unstable, record_bursts(unstable)).startswith("no interval: 0 of 0 calm seeds")
    assert calm_text({"per_seed": []}, None).startswith("n/a")
