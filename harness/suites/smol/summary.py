"""How a smol-suite record reads: the win rate against the untrained model, then one row per seed."""

from __future__ import annotations

from harness.suites.base import Summary, SummaryRow
from harness.units import pct, pct_ci


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary(record: dict) -> Summary:
    m = record["metrics"]
    lo, hi = m["win_rate_ci"]
    rows = (
        SummaryRow("win rate vs untrained answers (primary)", pct_ci(m["win_rate"], m["win_rate_ci"],
                                                                      m.get("win_rate_sem"))),
        SummaryRow("instructions followed", _share(m.get("instruction_score")),
                   f"untrained model {_share(m.get('reference_instruction_score'))}"),
    )
    seeds = tuple((str(s["seed"]), pct(s["win_rate"]), f"{s['wins']}/{s['ties']}/{s['losses']}",
                   _share(s.get("instruction_score")), f"{s['mean_length_words']:.1f}", f"{s['finished_rate']:.2f}")
                  for s in record["per_seed"])
    verdict = ("better than the untrained model" if lo > 0.5 else "worse than the untrained model" if hi < 0.5
               else "indistinguishable from the untrained model")
    return Summary(rows, ("seed", "win rate %", "wins/ties/losses", "instructions", "words", "finished"), seeds,
                   verdict)
