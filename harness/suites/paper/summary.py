"""How a judged paper-suite record reads: win rate against the references, LC win rate, per seed."""

from __future__ import annotations

from harness.suites.base import Summary, SummaryRow


def summary(record: dict) -> Summary:
    m = record["metrics"]
    lo, hi = m["win_rate_ci"]
    rows = [SummaryRow("win rate vs reference answers (primary)", f"{m['win_rate']:.3f} [{lo:.3f}, {hi:.3f}]")]
    if m.get("lc_win_rate") is not None:
        lc = m["lc_win_rate"]
        rows.append(SummaryRow("LC win rate (length-controlled)", f"{lc:.3f}" if lc <= 1 else f"{lc:.1f}",
                               "mean over seeds"))
    if "mt_bench_score" in m:
        slo, shi = m["mt_bench_score_ci"]
        rows.append(SummaryRow("MT-Bench score (1-10)", f"{m['mt_bench_score']:.2f} [{slo:.2f}, {shi:.2f}]"))
    seeds = tuple((str(s["seed"]), f"{s['win_rate']:.3f}", str(s["n_compared"])) for s in record["per_seed"])
    return Summary(tuple(rows), ("seed", "win rate", "answers compared"), seeds, m["verdict"])
