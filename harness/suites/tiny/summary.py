"""How a tiny-suite record reads: the matched-KL verdict with CIs, then one row per seed."""

from __future__ import annotations

from harness.stats.crossed import win_rate_ci
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


CALM_NOTE = "the seeds that did not burst: the loss's win rate when its training is stable, read beside the burst rate"


def calm_estimate(record: dict, bursts: dict | None):
    """The primary win rate over the seeds that did not burst (the calm-seed reading): (estimate or None,
    calm seeds measured at the budget, calm seeds), or None for a record without per-seed tables or burst
    flags. The estimate is harness.stats.crossed.win_rate_ci of the primary table's calm rows; None with
    fewer than 2 of them. Where a bursting seed moves the mixture's mean by 15-30 points no 3-seed
    interval covers it (docs/statistics.md, two-state seeds), but the stability diagnostic sees which
    seeds burst, and over the calm ones the same interval covers the calm truth
    (benchmarks/validation/bench_stats_coverage.py, "calm")."""
    outcomes = record.get("outcomes") or {}
    rows = (outcomes.get("tables") or {}).get(outcomes.get("primary"))
    if bursts is None or not isinstance(rows, list) or len(rows) != len(bursts["per_seed"]):
        return None
    calm_seeds = [r for r, f in zip(rows, bursts["per_seed"], strict=True) if not f["burst"]]
    calm = [r for r in calm_seeds if r is not None]
    return (win_rate_ci(calm) if len(calm) >= 2 else None), len(calm), len(calm_seeds)


def calm_text(record: dict, bursts: dict | None) -> str:
    """``calm_estimate`` as the summary prints it."""
    reading = calm_estimate(record, bursts)
    if reading is None:
        return "n/a (no per-seed tables or trajectories)"
    if bursts["burst_seeds"] == 0:
        return "the primary above (no seed burst)"
    est, measured, calm = reading
    if est is None:
        return (f"no interval: {measured} of {calm} calm seeds measured at the budget, 2 needed "
                "(an unstable loss: more seeds, or see the bursts)")
    return f"{pct_ci(est.mean, [est.low, est.high], est.sem)} ({measured} calm seeds)"


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
        SummaryRow(f"win rate @ KL {budget:g}, calm seeds only", calm_text(record, bursts), CALM_NOTE),
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
