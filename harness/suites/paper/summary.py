"""How a judged paper-suite record reads: win rate against the references, LC win rate, per seed."""

from __future__ import annotations

from harness.suites.base import Summary, SummaryRow
from harness.units import pct, pct_ci


def summary(record: dict) -> Summary:
    m = record["metrics"]
    lo, hi = m["win_rate_ci"]
    rows = [SummaryRow("win rate vs reference answers (primary)", pct_ci(m["win_rate"], m["win_rate_ci"],
                                                                         m.get("win_rate_sem")))]
    if m.get("lc_win_rate") is not None:
        rows.append(SummaryRow("LC win rate (length-controlled)", pct_ci(m["lc_win_rate"], m.get("lc_win_rate_ci")),
                               "mean over seeds"))
    if "mt_bench_score" in m:
        slo, shi = m["mt_bench_score_ci"]
        rows.append(SummaryRow("MT-Bench score (1-10)", f"{m['mt_bench_score']:.2f} [{slo:.2f}, {shi:.2f}]"))
    seeds = tuple((str(s["seed"]), pct(s["win_rate"]), str(s["n_compared"])) for s in record["per_seed"])
    return Summary(tuple(rows), ("seed", "win rate %", "answers compared"), seeds, m["verdict"])
