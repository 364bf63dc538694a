"""Verifying a record made elsewhere by re-running one of its seeds here.

The run is deterministic for a fixed seed and thread policy, so the same loss on the same suite
config reproduces a seed's win rate up to hardware differences in floating point. The re-run
agrees when it lies within that seed's prompt noise: the half-width of the seed's own 95% CI in
the record (bounded to [MIN_TOLERANCE, MAX_TOLERANCE] so that a forged, very wide CI cannot widen
the test), or DEFAULT_TOLERANCE when the record gives no per-seed CI.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

MIN_TOLERANCE, MAX_TOLERANCE, DEFAULT_TOLERANCE = 0.01, 0.05, 0.03


@dataclass(frozen=True)
class RerunResult:
    agrees: bool
    seed: int
    claimed: float | None
    measured: float | None
    tolerance: float
    message: str
    reran: bool = True  # False when the record lacks the seed, so nothing could be compared


def tolerance(seed_entry: dict) -> float:
    ci = seed_entry.get("win_rate_ci")
    if not (isinstance(ci, list) and len(ci) == 2):
        return DEFAULT_TOLERANCE
    return min(MAX_TOLERANCE, max(MIN_TOLERANCE, (ci[1] - ci[0]) / 2))


def compare(record: dict, rerun: dict) -> RerunResult:
    """Compare the re-run's (one-seed) record with the claimed record's entry for the same seed."""
    seed = rerun["seeds"][0]
    if seed not in record["seeds"]:
        return RerunResult(False, seed, None, None, 0.0,
                           f"the record does not include seed {seed}, the suite's first seed; it cannot be re-run",
                           reran=False)
    claimed_entry = record["per_seed"][record["seeds"].index(seed)]
    claimed = claimed_entry.get("win_rate")
    if rerun["status"] != "ok":  # a candidate failure contradicts the record; a harness fault ("error") does not
        return RerunResult(False, seed, claimed, None, 0.0,
                           f"re-running seed {seed} here ended with status {rerun['status']}, the record says ok",
                           reran=rerun["status"] != "error")
    measured = rerun["per_seed"][0].get("win_rate")
    if measured is None:  # the re-run's seed was censored or unresolved at the KL budget
        return RerunResult(claimed is None, seed, claimed, None, 0.0,
                           f"seed {seed} re-run here has no measured win rate (censored or unresolved); the "
                           f"record says {claimed}")
    measured = float(measured)
    tol = tolerance(claimed_entry)
    agrees = claimed is not None and abs(measured - float(claimed)) <= tol
    relation = "agrees with" if agrees else "contradicts"
    return RerunResult(agrees, seed, claimed, measured, tol,
                       f"seed {seed} re-run here: win rate {measured:.4f} {relation} the record's {claimed} "
                       f"(tolerance {tol:.3f})")


def rerun_first_seed(record: dict, *, suite: str, backend: str = "auto", progress: bool = False) -> RerunResult:
    """Re-run the suite's first seed of ``record``'s loss (from its embedded source) and compare."""
    from harness.bench import run_bench  # imported late: torch and the suite code are heavy

    with tempfile.TemporaryDirectory(prefix="harness-rerun-") as tmp:
        path = Path(tmp) / "loss.py"
        path.write_text(record["loss"]["source"], encoding="utf-8")
        rerun = run_bench(path, suite=suite, seeds=1, beta=record["beta"], backend=backend, progress=progress)
    return compare(record, rerun)
