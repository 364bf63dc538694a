"""How a tiny-suite record reads: the matched-KL verdict with CIs, then one row per seed."""

from __future__ import annotations

from harness.suites import Summary, SummaryRow


def _ci(m: dict, key: str) -> str:
    lo, hi = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def summary(record: dict) -> Summary:
    m = record["metrics"]
    budget = m["kl_budget"]
    thorough = record.get("thorough")
    primary = f"win rate @ KL {budget:g}, best lr per seed (primary)" if thorough else \
        f"win rate @ KL {budget:g} (primary)"
    rows = (
        SummaryRow(primary, _ci(m, "win_rate"), f"censored in {m['censored_seeds']} seed(s)" if m["censored"] else ""),
        SummaryRow("win rate @ KL 1", _ci(m, "win_rate_kl1"), "censored" if m.get("censored_kl1") else ""),
        SummaryRow("win rate, end of training", _ci(m, "win_rate_end")),
        SummaryRow(f"gold reward @ KL {budget:g}", _ci(m, "reward")),
        SummaryRow("KL(policy || ref), end", f"{m['kl']:.3f}", f"seed sd {m['kl_seed_sd']:.3f}"),
        SummaryRow("fluency, end", f"{m['fluency']:.3f}"),
        SummaryRow("distinct-2, end", f"{m['distinct_2']:.3f}"),
        SummaryRow("mean length (tokens), end", f"{m['mean_length']:.1f}"),
    )
    seeds = [(str(s["seed"]), f"{s['win_rate']:.3f}", "yes" if s["censored"] else "", f"{s['win_rate_end']:.3f}",
              f"{s['kl']:.2f}", f"{s['fluency']:.2f}") for s in record["per_seed"]]
    headers = ("seed", f"win@KL{budget:g}", "censored", "win end", "KL end", "fluency")
    extra: tuple[str, ...] = ()
    if thorough:
        from tabulate import tabulate

        lr_rows = [[f"{r['learning_rate']:g}", _ci(r, "win_rate"), r["censored_seeds"], f"{r['win_rate_end']:.3f}",
                    f"{r['kl']:.2f}"] for r in thorough["per_learning_rate"]]
        seeds = [row + (f"{s['learning_rate']:g}",) for row, s in zip(seeds, record["per_seed"], strict=True)]
        headers += ("lr",)
        extra = (tabulate(lr_rows, headers=["learning rate", f"win@KL{budget:g} [95% CI]", "censored seeds",
                                            "win end", "KL end"]),)
    return Summary(rows, headers, tuple(seeds), m["verdict"], extra)
