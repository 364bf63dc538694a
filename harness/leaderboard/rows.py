"""Display values shared by the text renderers (one place decides how a number is printed)."""

from __future__ import annotations

from harness.leaderboard.board import Board, Entry, FailedRun, Rejected
from harness.suites.base import Column


def pct(x: float | None) -> str:
    """Win rates are fractions in [0, 1]; boards print percentages (as AlpacaEval does)."""
    return "" if x is None else f"{100 * x:.1f}"


def num(x: float | None) -> str:
    return "" if x is None else f"{x:.3g}"


def day(iso: str) -> str:
    return iso[:10]


CENSORED_MARK = "†"


def win_text(e: Entry) -> str:
    if e.win_rate is None:
        return "not measured"  # every seed censored or unresolved at the verdict point
    return pct(e.win_rate) + (f" {CENSORED_MARK}" if e.censored_seeds else "")


def header(c: Column) -> str:
    """A metric column's header in the text tables ("instructions followed %" for a share)."""
    return c.label + (" %" if c.percent else "")


def metric_value(e: Entry, c: Column) -> float | None:
    """The number a column sorts by: the metric itself (a count column's rate)."""
    v = e.metric(c.key)
    return None if v is None else float(v)


def metric_text(e: Entry, c: Column) -> str:
    """One entry's cell of a metric column: the value (in % for a share), its 95% CI in brackets when the
    column has one, or for a count column the seeds counted of all seeds ("1/3 [6–79%]"); "" when unknown."""
    v, ci = e.metric(c.key), e.metric(c.key + "_ci") if c.ci else None
    if v is None:
        return ""
    if c.count:
        k = e.metric(c.count)
        if k is None or ci is None:
            return ""
        return f"{k}/{e.seeds} [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}%]"
    fmt = pct if c.percent else num
    return fmt(v) + ("" if ci is None else f" [{fmt(ci[0])}–{fmt(ci[1])}]")


def metric_json(e: Entry, c: Column) -> dict:
    """A metric column's fields in JSON and CSV: the value, its CI and its count when the column has them."""
    out = {c.key: e.metric(c.key)}
    if c.ci:
        ci = e.metric(c.key + "_ci")
        out[c.key + "_ci"] = None if ci is None else list(ci)
    if c.count:
        out[c.count] = e.metric(c.count)
    return out


def ci_text(e: Entry) -> str:
    return "" if e.win_rate_ci is None else f"{pct(e.win_rate_ci[0])} – {pct(e.win_rate_ci[1])}"


def protocol_note(board: Board) -> str:
    """How the win rate was measured, from the records themselves (empty for end-of-training scores)."""
    if board.kl_budget is None:
        return ""
    return (f"Win rates are measured where KL(policy ‖ reference) first reaches {board.kl_budget:g} nats "
            f"(matched-KL protocol). An entry with a seed that never reached it (censored) or crossed it in a "
            f"jump its kept weights could not resolve (unresolved) is shown apart, never ranked on this scale: "
            f"its win rate, marked {CENSORED_MARK}, averages its measured seeds only, and nothing is interpolated.")


def rank_note(board: Board) -> str:
    """What the rank column means on this board (paired joint ranking, or the unpaired fallback)."""
    if board.ranking is None and not any(e.ranked_on for e in board.entries):
        return ("Rank interval from overlapping 95% CIs (unpaired: these records carry no per-prompt outcomes); "
                "entries with overlapping CIs share ranks.")
    sep = "" if board.separability is None else f" {100 * board.separability:.0f}% of entry pairs are separated."
    return ("Rank interval [best–worst] from paired comparisons of every pair of entries on the same seeds and "
            "prompts, with Holm's family-wise adjustment (95% jointly); rows are sorted by win rate, and entries "
            f"whose intervals overlap are not told apart.{sep} KL is at the end of training.")


def apart_row(e: Entry, columns: tuple[Column, ...] = ()) -> dict[str, str]:
    row = entry_row(e, columns)
    row["rank"] = "" if e.ranked_on is None else f"{rank_text(e)} ({e.ranked_on})"
    row["why apart"] = e.apart_reason
    return row


def count(items, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{len(items)} {noun if len(items) == 1 else plural}"


def rank_text(e: Entry) -> str:
    """The rank interval [best, worst] ("3" when both ends agree, "1–4" otherwise, "" when unranked)."""
    if e.rank_interval is None:
        return ""
    best, worst = e.rank_interval
    return str(best) if best == worst else f"{best}–{worst}"


def entry_row(e: Entry, columns: tuple[Column, ...] = ()) -> dict[str, str]:
    """The text-table row of an entry: rank, loss, the primary win rate and its CI, then one cell per metric
    column of the board (``Board.metric_columns``), then seeds, date and the record's hash."""
    return {
        "rank": rank_text(e), "loss": e.name, "win rate %": win_text(e), "95% CI": ci_text(e),
        **{header(c): metric_text(e, c) for c in columns},
        "seeds": str(e.seeds), "date": day(e.created_at), "verified": e.proof, "sha256": e.sha256[:12],
    }


def rejected_row(r: Rejected) -> dict[str, str]:
    return {"file": r.record_file, "why rejected": r.reason[:300]}


def failed_row(f: FailedRun) -> dict[str, str]:
    first_line = (f.error.strip().splitlines() or [""])[-1]
    return {"loss": f.name, "status": f.status, "error": first_line[:120], "date": day(f.created_at),
            "sha256": f.sha256[:12]}


def pair_json(ranking, names: dict) -> list[dict]:
    """Head-to-head rows of a joint ranking: paired difference a - b, its own 95% CI, and whether the
    pair is separated after Holm's family-wise adjustment."""
    if ranking is None:
        return []
    return [{"a": names.get(p.a, p.a), "a_sha256": p.a, "b": names.get(p.b, p.b), "b_sha256": p.b,
             "difference": p.difference, "difference_ci": list(p.ci), "seeds": p.seeds, "separated": p.separated}
            for p in ranking.pairs]


def stale_row(e: Entry, columns: tuple[Column, ...] = ()) -> dict[str, str]:
    row = entry_row(e, columns)
    row.pop("rank")
    return row


def entry_json(board: Board, e: Entry) -> dict:
    return {
        "rank": e.rank, "rank_interval": None if e.rank_interval is None else list(e.rank_interval),
        "ranked_on": e.ranked_on, "apart_reason": e.apart_reason or None, "kl_measured_at": "end of training",
        "name": e.name, "sha256": e.sha256, "win_rate": e.win_rate,
        "win_rate_ci": None if e.win_rate_ci is None else list(e.win_rate_ci), "seeds": e.seeds,
        **{k: v for c in board.metric_columns for k, v in metric_json(e, c).items()},
        "created_at": e.created_at, "suite": board.suite, "suite_config_hash": board.config_hash,
        "kl_budget": e.kl_budget, "censored_seeds": e.censored_seeds,
        "harness_version": e.harness_version, "git_revision": e.git_revision, "judge": e.judge_id,
        "record": e.record_file, "verified": e.verified, "proof": e.proof,
    }
