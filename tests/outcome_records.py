"""Records carrying per-prompt ``outcomes`` (the shared contract), built from known-truth simulations."""

from __future__ import annotations

import numpy as np
from test_leaderboard_records import make_record

from benchmarks.validation.simulation import NoiseModel, simulate
from harness.seal import seal
from harness.stats.crossed import win_rate_ci

PROMPTS_SHA = "a" * 64


def outcome_tables(rates, *, seeds: int = 3, prompts: int = 64, seed_sd: float = 0.02, rng_seed: int = 0):
    """(L, seeds, prompts) tables for losses with true win rates ``rates``, sharing prompts."""
    return simulate(rates, NoiseModel(seed_sd=seed_sd), seeds, prompts, 1, np.random.default_rng(rng_seed))[0]


def record_with_outcomes(name: str, table, *, seed_status=None, prompts_sha: str = PROMPTS_SHA,
                         extra_tables: dict | None = None, **kwargs) -> dict:
    """``make_record`` whose metrics and ``outcomes`` come from ``table`` (seeds x prompts), consistent
    as `harness bench` writes them (harness.leaderboard.proof.check_aggregates holds): a seed that is not
    "measured" in ``seed_status`` has no primary row and no per-seed win rate."""
    table = np.asarray(table, dtype=float)
    status = list(seed_status or ["measured"] * table.shape[0])
    full = [None if np.isnan(r).all() else [round(float(x), 4) for x in r] for r in table]
    rows = [row if st == "measured" else None for row, st in zip(full, status, strict=True)]
    measured = [r for r in rows if r is not None]
    est = win_rate_ci(np.array(measured)) if measured else None
    record = make_record(name, est.mean if est else 0.5, est.half_width if est else 0.05,
                         seeds=tuple(range(table.shape[0])), **kwargs)
    for seed, row in zip(record["per_seed"], rows, strict=True):
        seed["win_rate"] = None if row is None else float(np.mean(row))
    if est is None:
        record["metrics"].update(win_rate=None, win_rate_ci=None, measured_seeds=0)
    else:
        record["metrics"].update(win_rate=float(np.mean(measured)), win_rate_ci=[est.low, est.high])
    tables = {"verdict": rows, "end": full, "reference": [[0.5] * table.shape[1]] * table.shape[0]}
    record["outcomes"] = {"prompts_sha256": prompts_sha, "primary": "verdict",
                          "tables": {**tables, **(extra_tables or {})}, "seed_status": status}
    if isinstance(record.get("verification"), dict):  # the factory's board note, sealed again after the edits
        record = seal(record, record["verification"])
    return record
