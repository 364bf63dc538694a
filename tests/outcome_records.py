"""Records carrying per-prompt ``outcomes`` (the shared contract), built from known-truth simulations."""

from __future__ import annotations

import numpy as np
from test_leaderboard_records import make_record

from harness.simulation import NoiseModel, simulate
from harness.stats import win_rate_ci

PROMPTS_SHA = "a" * 64


def outcome_tables(rates, *, seeds: int = 3, prompts: int = 64, seed_sd: float = 0.02, rng_seed: int = 0):
    """(L, seeds, prompts) tables for losses with true win rates ``rates``, sharing prompts."""
    return simulate(rates, NoiseModel(seed_sd=seed_sd), seeds, prompts, 1, np.random.default_rng(rng_seed))[0]


def record_with_outcomes(name: str, table, *, seed_status=None, prompts_sha: str = PROMPTS_SHA,
                         extra_tables: dict | None = None, **kwargs) -> dict:
    """``make_record`` whose metrics and ``outcomes`` come from ``table`` (seeds x prompts)."""
    table = np.asarray(table, dtype=float)
    est = win_rate_ci(table)
    record = make_record(name, est.mean, est.half_width, seeds=tuple(range(table.shape[0])), **kwargs)
    rows = [None if np.isnan(r).all() else [round(float(x), 4) for x in r] for r in table]
    tables = {"verdict": rows, "end": rows, "reference": [[0.5] * table.shape[1]] * table.shape[0]}
    record["outcomes"] = {"prompts_sha256": prompts_sha, "primary": "verdict",
                          "tables": {**tables, **(extra_tables or {})},
                          "seed_status": list(seed_status or ["measured"] * table.shape[0])}
    record["metrics"]["win_rate_ci"] = [est.low, est.high]
    return record
