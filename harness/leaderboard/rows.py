"""Display values shared by the text renderers (one place decides how a number is printed)."""

from __future__ import annotations

from harness.leaderboard.board import Board, Entry, FailedRun


def pct(x: float | None) -> str:
    """Win rates are fractions in [0, 1]; boards print percentages (as AlpacaEval does)."""
    return "" if x is None else f"{100 * x:.1f}"


def num(x: float | None) -> str:
    return "" if x is None else f"{x:.3g}"


def day(iso: str) -> str:
    return iso[:10]


CENSORED_MARK = "†"


def win_text(e: Entry) -> str:
    return pct(e.win_rate) + (f" {CENSORED_MARK}" if e.censored_seeds else "")


def protocol_note(board: Board) -> str:
    """How the win rate was measured, from the records themselves (empty for end-of-training scores)."""
    if board.kl_budget is None:
        return ""
    return (f"Win rates are measured where KL(policy ‖ reference) first reaches {board.kl_budget:g} nats "
            f"(matched-KL protocol); {CENSORED_MARK} marks entries with seeds that never reached it and are "
            "scored at their last checkpoint (censored).")


def count(items, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{len(items)} {noun if len(items) == 1 else plural}"


def entry_row(e: Entry) -> dict[str, str]:
    lo, hi = e.win_rate_ci
    return {
        "rank": str(e.rank), "loss": e.name, "win rate %": win_text(e),
        "95% CI": f"{pct(lo)} – {pct(hi)}", "reward": num(e.reward), "KL": num(e.kl), "seeds": str(e.seeds),
        "date": day(e.created_at), "sha256": e.sha256[:12],
    }


def failed_row(f: FailedRun) -> dict[str, str]:
    first_line = (f.error.strip().splitlines() or [""])[-1]
    return {"loss": f.name, "status": f.status, "error": first_line[:120], "date": day(f.created_at),
            "sha256": f.sha256[:12]}


def stale_row(e: Entry) -> dict[str, str]:
    row = entry_row(e)
    row.pop("rank")
    return row


def entry_json(board: Board, e: Entry) -> dict:
    return {
        "rank": e.rank, "name": e.name, "sha256": e.sha256, "win_rate": e.win_rate,
        "win_rate_ci": list(e.win_rate_ci), "seeds": e.seeds, "reward": e.reward, "kl": e.kl,
        "created_at": e.created_at, "suite": board.suite, "suite_config_hash": board.config_hash,
        "kl_budget": e.kl_budget, "censored_seeds": e.censored_seeds, "harness_version": e.harness_version, "git_revision": e.git_revision, "judge": e.judge_id,
        "record": e.record_file, "verified": e.verified,
    }
