"""How a user suite's record reads: the win rate against the reference answers, then one row per seed."""

from __future__ import annotations

from harness.suites.base import Summary, SummaryRow


def summary(record: dict) -> Summary:
    m = record["metrics"]
    lo, hi = m["win_rate_ci"]
    config = record["suite"]["config"]
    against = "the untrained model" if config.get("reference") == "model" else "the data's chosen answers"
    rows = (SummaryRow(f"win rate vs {against} (primary)", f"{m['win_rate']:.3f} [{lo:.3f}, {hi:.3f}]",
                       f"sem {m['win_rate_sem']:.3f}"),
            SummaryRow("data", config["data"]["fingerprint"][:12], f"{config['data']['path']}"))
    seeds = tuple((str(s["seed"]), f"{s['win_rate']:.3f}", f"{s['wins']}/{s['ties']}/{s['losses']}",
                   f"{s['mean_length_words']:.1f}", f"{s['finished_rate']:.2f}") for s in record["per_seed"])
    verdict = (f"better than {against}" if lo > 0.5 else f"worse than {against}" if hi < 0.5
               else f"indistinguishable from {against}")
    return Summary(rows, ("seed", "win rate", "wins/ties/losses", "words", "finished"), seeds, verdict)
