"""How a tiny-suite record reads: the matched-KL verdict with CIs, then one row per seed."""

from __future__ import annotations

from harness.suites.base import Summary, SummaryRow
from harness.suites.tiny.stability import BURST_NATS, FLUENCY_FRACTION, record_bursts
from harness.units import pct, pct_ci

BURST_NOTE = f"KL moved > {BURST_NATS:g} nats within a checkpoint interval, or fluency < {FLUENCY_FRACTION:g} x step 0"


def _ci(m: dict, key: str, *, sign: bool = False) -> str:
    """A win rate (or a difference of two: ``sign``) in percent with its CI and SEM (harness.units)."""
    return pct_ci(m.get(key), m.get(f"{key}_ci"), m.get(f"{key}_sem"), sign=sign)


def _counts(m: dict, key: str) -> str:
    """Which seeds a budget's number comes from: measured, censored (never reached), unresolved."""
    return ", ".join(f"{m.get(f'{k}{key}_seeds', 0)} {k}" for k in ("measured", "censored", "unresolved"))


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def bursts_text(bursts: dict | None) -> str:
    """"bursts k/n seeds (rate, 95% CI)" of ``stability.record_bursts``; "n/a" for a record without it."""
    if bursts is None:
        return "n/a (no trajectories to test)"
    k, n = bursts["burst_seeds"], len(bursts["per_seed"])
    lo, hi = bursts["burst_rate_ci"]
    return f"{k}/{n} seeds ({bursts['burst_rate']:.2f}, 95% CI [{lo:.2f}, {hi:.2f}])"


def _seed_burst(fields: dict | None) -> str:
    if fields is None:
        return "n/a"
    return f"{fields['burst_kind']} @ {fields['burst_step']:g}" if fields["burst"] else "-"


def summary(record: dict) -> Summary:
    m = record["metrics"]
    budget = m["kl_budget"]
    thorough = record.get("thorough")
    bursts = record_bursts(record)  # recomputed from the trajectories for a record made before the field
    primary = f"win rate @ KL {budget:g}, best lr per seed (primary)" if thorough else \
        f"win rate @ KL {budget:g} (primary)"
    rows = (
        SummaryRow(primary, _ci(m, "win_rate"), _counts(m, "")),
        SummaryRow("win rate @ KL 1", _ci(m, "win_rate_kl1"), _counts(m, "_kl1")),
        SummaryRow("win rate, end of training", _ci(m, "win_rate_end")),
        SummaryRow("win rate, step 0 (the reference itself)", _ci(m, "win_rate_reference"), "the null"),
        SummaryRow(f"difference @ KL {budget:g} - step 0 (paired)", _ci(m, "vs_reference", sign=True), "measured seeds"),
        SummaryRow(f"gold reward @ KL {budget:g}", _fmt(m.get("reward"))),
        SummaryRow("KL(policy || ref), end", f"{m['kl']:.3f}", f"seed sd {m['kl_seed_sd']:.3f}"),
        SummaryRow("fluency, end", f"{m['fluency']:.3f}"),
        SummaryRow("distinct-2, end", f"{m['distinct_2']:.3f}"),
        SummaryRow("mean length (tokens), end", f"{m['mean_length']:.1f}"),
        SummaryRow("bursts", bursts_text(bursts), BURST_NOTE),
    )
    per_seed = bursts["per_seed"] if bursts else [None] * len(record["per_seed"])
    seeds = [(str(s["seed"]), pct(s["win_rate"]), s.get("status", ""), pct(s["win_rate_end"]),
              f"{s['kl']:.2f}", f"{s['fluency']:.2f}", _seed_burst(b))
             for s, b in zip(record["per_seed"], per_seed, strict=True)]
    headers = ("seed", f"win % @KL{budget:g}", "status", "win % end", "KL end", "fluency", "burst (kind @ step)")
    extra: tuple[str, ...] = ()
    if thorough:
        from tabulate import tabulate

        lr_rows = [[f"{r['learning_rate']:g}", _ci(r, "win_rate"),
                    f"{r['censored_seeds']} / {r.get('unresolved_seeds', 0)}", pct(r["win_rate_end"]),
                    f"{r['kl']:.2f}"] for r in thorough["per_learning_rate"]]
        seeds = [row + (f"{s['learning_rate']:g}",) for row, s in zip(seeds, record["per_seed"], strict=True)]
        headers += ("lr",)
        extra = (tabulate(lr_rows, headers=["learning rate", f"win % @KL{budget:g} [95% CI]",
                                            "censored / unresolved seeds", "win % end", "KL end"]),)
    if m.get("seeds_auto"):
        extra += (f"seeds auto: {m['seeds_auto']['stopped']}",)
    return Summary(rows, headers, tuple(seeds), m["verdict"], extra)
