"""What a record made elsewhere must prove before a board ranks it.

1. **Consistency** (``check_aggregates``): every headline number is recomputed from the record's own
   finer data and a contradiction is refused, naming the field. Cross-seed metrics are the mean of
   the per-seed values (``harness.suites.tiny.metrics.aggregate``: the hierarchical bootstrap's point estimate is
   the mean of seed means); censoring counts are counts of censored seeds; with per-prompt
   ``outcomes`` (record schema 2) each seed's win rate is the mean of its row of the primary table,
   and the win rate (and, where ``harness.stats.crossed.win_rate_ci`` exists, its CI) is recomputed from the
   table; burst flags are recomputed from the trajectories and the burst rate from the flags.
2. **Provenance** (``verify_signature`` or a re-run, ``harness.leaderboard.rerun``): a consistent
   record can still be forged. It is *verified* when it carries a valid HMAC-SHA256 signature by a
   runner key the board trusts (the key comes from the environment variable
   ``HARNESS_RUNNER_KEY`` only, never from a file or a config), or when one of its seeds, re-run here,
   lands within that seed's noise of what the record claims. Otherwise it is listed apart as
   unverified, never ranked. Records that ``harness submit --loss`` makes here are verified by
   construction.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os

import numpy as np

from harness.records import canonical_json
from harness.stats.crossed import win_rate_ci
from harness.suites import SUITES

RUNNER_KEY_ENV = "HARNESS_RUNNER_KEY"
MEAN_OVER_SEEDS = ("win_rate", "win_rate_end", "win_rate_kl1", "reward", "reward_end", "reward_kl1", "kl",
                   "fluency", "mean_length", "distinct_1", "distinct_2")
SHOWN = ("win_rate", "reward", "kl")  # on every board: these must be recomputable
CENSOR_COUNTS = {"censored_seeds": "censored", "censored_kl1_seeds": "censored_kl1"}
TOLERANCE = 1e-6  # float rounding of a mean of a few numbers
TABLE_TOLERANCE = 1e-3  # outcomes are rounded to 4 decimals
CI_TOLERANCE = 0.01  # bootstrap bounds: Monte Carlo error of 2000 resamples is ~0.002


class ProofError(ValueError):
    """The record contradicts itself; the message names the field."""


def _close(a, b, tol: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def check_aggregates(record: dict) -> None:
    """Raise ProofError when an aggregate of an ok record disagrees with the data it summarises."""
    if record["status"] != "ok":
        return
    metrics, per_seed = record["metrics"], record["per_seed"]
    table_backed = _check_outcomes(record) if record.get("outcomes") is not None else set()
    for key in MEAN_OVER_SEEDS:
        if metrics.get(key) is None or key in table_backed:
            continue
        # a seed censored or unresolved at the KL budget has no value there; the suite averages the
        # measured seeds only (harness.suites.tiny.metrics.aggregate), and so does this check
        values = [s.get(key) for s in per_seed
                  if not (s.get(key) is None and s.get("status") in ("censored", "unresolved"))]
        if not values or any(v is None for v in values):
            if key in SHOWN:
                raise ProofError(f"metrics.{key} cannot be recomputed: per_seed lacks {key!r} for some seed; "
                                 "submit the record `harness bench` wrote, unedited")
            continue
        mean = float(np.mean(values))
        if not _close(metrics[key], mean, TOLERANCE):
            raise ProofError(f"metrics.{key} is {metrics[key]!r}, but the mean of its per_seed values is "
                             f"{mean!r}: the record was edited after the run; re-run the benchmark")
    for count_key, flag in CENSOR_COUNTS.items():
        if count_key in metrics and all(flag in s for s in per_seed):
            n = sum(bool(s[flag]) for s in per_seed)
            if metrics[count_key] != n:
                raise ProofError(f"metrics.{count_key} is {metrics[count_key]!r}, but {n} per_seed entries are "
                                 f"{flag}: the record was edited after the run")
    if "censored" in metrics and "censored_seeds" in metrics and bool(metrics["censored"]) != (metrics["censored_seeds"] > 0):
        raise ProofError("metrics.censored contradicts metrics.censored_seeds")
    _check_suite(record)


def _check_suite(record: dict) -> None:
    """What only the record's suite can recompute (``Suite.check_record``; tiny: the burst flags from the
    trajectories and the burst rate from the flags). A suite not registered here has nothing to add."""
    name = record["suite"]["name"]
    if name not in SUITES:
        return
    try:
        SUITES.get(name).check_record(record)
    except (ValueError, TypeError, KeyError) as err:
        raise ProofError(str(err)) from None


def _check_outcomes(record: dict) -> set[str]:
    """Check the per-prompt tables (record schema 2); return the metrics they decide."""
    outcomes, seeds = record["outcomes"], record["seeds"]
    tables = outcomes.get("tables") if isinstance(outcomes, dict) else None
    primary = outcomes.get("primary", "verdict") if isinstance(outcomes, dict) else None
    if not isinstance(tables, dict) or primary not in tables:
        raise ProofError("outcomes must hold 'tables' with the primary table named by outcomes.primary")
    rows = tables[primary]
    if not isinstance(rows, list) or len(rows) != len(seeds):
        raise ProofError(f"outcomes.tables.{primary} must have one row per seed ({len(seeds)})")
    status = outcomes.get("seed_status")
    if not isinstance(status, list) or len(status) != len(seeds):
        raise ProofError(f"outcomes.seed_status must have one entry per seed ({len(seeds)})")
    measured = []
    for i, row in enumerate(rows):
        claimed = record["per_seed"][i].get("win_rate") if i < len(record["per_seed"]) else None
        if (row is None) != (status[i] != "measured"):
            raise ProofError(f"outcomes.seed_status[{i}] is {str(status[i])[:40]!r}, but its outcomes row is "
                             f"{'empty' if row is None else 'filled'}: a seed has a row exactly when it is measured")
        if row is None:
            if claimed is not None:
                raise ProofError(f"per_seed[{i}].win_rate is {claimed!r}, but the seed has no outcomes row to "
                                 "recompute it from: the record was edited after the run")
            continue
        arr = np.asarray(row, dtype=float)
        if arr.ndim != 1 or arr.size == 0 or not np.all((arr >= 0) & (arr <= 1)):
            raise ProofError(f"outcomes.tables.{primary}[{i}] must be a non-empty list of scores in [0, 1]")
        if claimed is None or not _close(claimed, arr.mean(), TABLE_TOLERANCE):
            raise ProofError(f"per_seed[{i}].win_rate is {claimed!r}, but its outcomes row averages "
                             f"{arr.mean():.4f}: the record was edited after the run")
        measured.append(arr)
    widths = {len(r) for t in tables.values() if isinstance(t, list) for r in t if isinstance(r, list)}
    if not measured:  # every seed censored or unresolved: no headline, nothing to recompute it from
        if record["metrics"].get("win_rate") is not None or record["metrics"].get("win_rate_ci") is not None:
            raise ProofError(f"metrics.win_rate is {record['metrics'].get('win_rate')!r}, but no seed of "
                             f"outcomes.tables.{primary} is measured: the record was edited after the run")
        return {"win_rate", *_check_other_tables(record, tables, max(widths, default=0))}
    if len({a.size for a in measured}) != 1:
        raise ProofError(f"outcomes.tables.{primary}: every seed must score the same prompts")
    mean = float(np.mean(np.stack(measured)))
    if not _close(record["metrics"]["win_rate"], mean, TABLE_TOLERANCE):
        raise ProofError(f"metrics.win_rate is {record['metrics']['win_rate']!r}, but outcomes.tables.{primary} "
                         f"averages {mean:.4f}: the record was edited after the run")
    _check_ci(record, np.stack(measured))
    return {"win_rate", *_check_other_tables(record, tables, measured[0].size)}


# metrics a suite computes from another outcomes table (tiny: the end of training, the 1-nat budget)
TABLE_METRICS = {"end": "win_rate_end", "kl1": "win_rate_kl1", "reference": "win_rate_reference"}


def _check_other_tables(record: dict, tables: dict, prompts: int) -> set[str]:
    """Check each metric in TABLE_METRICS against the mean of its table's measured rows (the suite
    computes it from the rounded table, so the per_seed mean would differ by the rounding); return
    the metrics so checked."""
    checked = set()
    for name, key in TABLE_METRICS.items():
        claimed, rows = record["metrics"].get(key), tables.get(name)
        if claimed is None or rows is None:
            continue
        if not isinstance(rows, list) or len(rows) != len(record["seeds"]):
            raise ProofError(f"outcomes.tables.{name} must have one row per seed ({len(record['seeds'])})")
        measured = [np.asarray(r, dtype=float) for r in rows if r is not None]
        if not measured or any(a.shape != (prompts,) or not np.all((a >= 0) & (a <= 1)) for a in measured):
            raise ProofError(f"outcomes.tables.{name} must hold, per measured seed, {prompts} scores in [0, 1]")
        mean = float(np.mean(np.stack(measured)))
        if not _close(claimed, mean, TABLE_TOLERANCE):
            raise ProofError(f"metrics.{key} is {claimed!r}, but outcomes.tables.{name} averages {mean:.4f}: "
                             "the record was edited after the run")
        checked.add(key)
    return checked


def _check_ci(record: dict, table: np.ndarray) -> None:
    est = win_rate_ci(table)
    lo, hi = record["metrics"]["win_rate_ci"]
    if abs(lo - est.low) > CI_TOLERANCE or abs(hi - est.high) > CI_TOLERANCE:
        raise ProofError(f"metrics.win_rate_ci is [{lo:.4f}, {hi:.4f}], but the outcomes give "
                         f"[{est.low:.4f}, {est.high:.4f}]: the record was edited after the run")


# ---------------------------------------------------------------- signatures

def signed_payload(record: dict) -> bytes:
    """The bytes a runner signs: the canonical JSON of the record without its signature."""
    return canonical_json({k: v for k, v in record.items() if k != "signature"}).encode("utf-8")


def sign_record(record: dict, key: bytes) -> dict:
    """``record`` with an HMAC-SHA256 ``signature`` by ``key`` (a runner the board trusts)."""
    mac = hmac.new(key, signed_payload(record), hashlib.sha256).hexdigest()
    return {**record, "signature": {"alg": "hmac-sha256", "value": mac}}


def runner_key() -> bytes | None:
    """The trusted runner key, from the environment only (``HARNESS_RUNNER_KEY``); None when unset."""
    key = os.environ.get(RUNNER_KEY_ENV, "")
    return key.encode("utf-8") if key else None


def verify_signature(record: dict) -> bool:
    """True when the record carries a valid signature by the trusted runner key."""
    sig, key = record.get("signature"), runner_key()
    if key is None or not isinstance(sig, dict) or sig.get("alg") != "hmac-sha256":
        return False
    value = sig.get("value")
    expected = hmac.new(key, signed_payload(record), hashlib.sha256).hexdigest()
    return isinstance(value, str) and hmac.compare_digest(value, expected)
