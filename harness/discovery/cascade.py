"""The ``cascade`` evaluator: a cheap screen stops clearly hopeless candidates before the full bench.

Stages (the stage a candidate reached is ``metrics["stage"]`` in the archive and candidates.jsonl;
finalize.py and transfer.py add "reeval" and "transfer" for the ones they take further):

    screen  ``harness bench`` with ``screen_fraction`` of the suite's training steps, on the search
            seeds. The check's probe of the loss (slope at rho = 0, harness.checks) runs first in the
            same sandbox session. The candidate stops here (status ``screened``, no fitness) when
              - its per-prompt win rate at the end of the short run is below the untrained reference
                with a paired CI entirely below 0 (clearly worse than not training at all), or
              - it pushes away from the chosen answer at rho = 0 (positive slope: reversed-DPO-like)
                AND its end win rate is below the reference's.
            A failure in the screen (crash, diverged, invalid) is that candidate's status.
    bench   the full bench (harness.discovery.evaluator.BenchEvaluator): the search fitness.
    reeval  the top candidates re-benched on fresh seeds (finalize.py): successive halving's last
            rung, with three times the seeds, for the few that survive the search.

Whether the screen drops candidates that the full bench would rank high is measured on a sample run
both ways by benchmarks/experiments/bench_discovery_cascade.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.discovery.config import EvalSettings
from harness.discovery.evaluator import BenchEvaluator, EvalResult, _tail, thread_overrides
from harness.stats.paired import paired_difference_ci
from harness.suites import get_suite

STAGES = ("screen", "bench", "reeval", "transfer")


def screen_overrides(settings: EvalSettings) -> dict:
    """``train.steps`` for the screen: ``screen_fraction`` of the suite's steps, a whole number of
    checkpoints (at least one). Raises ValueError when the suite has no such setting or too few steps."""
    return get_suite(settings.suite).with_overrides(dict(settings.overrides)).screen_overrides(settings.screen_fraction)


def screen_decision(record: dict, slope_at_zero: float | None, level: float = 0.95) -> str | None:
    """Why the screen stops the candidate of ``record`` (a short-run bench record), or None to go on.

    Uses the record's per-prompt ``end`` table against its ``reference`` table (the untrained policy
    scored the same way), paired on seeds and prompts (harness.stats.paired.paired_difference_ci). A record
    without those tables is never stopped (no evidence)."""
    tables = (record.get("outcomes") or {}).get("tables") or {}
    if "end" not in tables or "reference" not in tables:
        return None
    rows = [i for i in range(len(tables["end"])) if tables["end"][i] is not None and tables["reference"][i] is not None]
    if not rows:
        return None
    d = paired_difference_ci([tables["end"][i] for i in rows], [tables["reference"][i] for i in rows], level)
    span = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
    if d.high < 0:
        return f"screen: end win rate minus the untrained reference {span} after the short run: clearly below it"
    if slope_at_zero is not None and slope_at_zero > 0 and d.mean < 0:
        return (f"screen: pushes away from the chosen answer at rho = 0 (slope {slope_at_zero:+.3g}) and ends "
                f"below the untrained reference ({span})")
    return None


class CascadeEvaluator(BenchEvaluator):
    """Screen (short run), then the full bench for the candidates that pass."""

    @staticmethod
    def prepare(settings: EvalSettings, progress: bool) -> None:
        BenchEvaluator.prepare(settings, progress)
        screen_overrides(settings)  # an unsuitable suite fails here, before any worker starts

    def evaluate(self, candidate_path: Path, deadline: float | None = None) -> EvalResult:
        import time

        from harness.discovery.rebench import bench

        s = self.settings
        deadline = time.time() + s.candidate_timeout_s if deadline is None else deadline  # screen and bench
        seen: dict = {}

        def probe(report) -> None:
            seen["slope"] = report.diagnostics.get("slope_at_zero")

        short = screen_overrides(s)
        record = bench(candidate_path, evaluator="bench", suite=s.suite, seeds=s.seeds,
                       overrides={**s.overrides, **thread_overrides(s), **short},
                       out_dir=self.work_dir / f"{Path(candidate_path).stem}-screen", beta=s.beta,
                       backend=s.backend, before_training=probe, deadline=deadline)
        info = {"stage": "screen", "steps": short["train.steps"], "slope_at_zero": seen.get("slope"),
                "status": record["status"], "win_rate_end": record.get("metrics", {}).get("win_rate_end"),
                "seconds": record.get("timings", {}).get("total"), "record_path": record.get("record_path")}
        if record["status"] != "ok":
            return EvalResult(record["status"], _tail(record.get("error") or "the screen failed"), metrics=info)
        reason = screen_decision(record, seen.get("slope"))
        if reason is not None:
            return EvalResult("screened", reason, metrics=info)
        result = super().evaluate(candidate_path, deadline)
        return dataclasses.replace(result, metrics={**result.metrics, "screen": info})


