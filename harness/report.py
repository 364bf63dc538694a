"""The readable report of one record (``harness bench``'s table): the suite's own summary rows and per-seed
table (``Suite.summary``), the verdict and the stage timings. Loss-made text is cleaned for a terminal."""

from __future__ import annotations

from harness.suites import SUITES
from harness.text import clean_block, clean_terminal


def render_record(record: dict) -> str:
    """The summary of any suite's record; a failed run shows its status and error text."""
    from tabulate import tabulate

    head = (f"loss {clean_terminal(record['loss']['name'])} ({record['loss']['sha256'][:12]})  suite "
            f"{record['suite']['name']} ({record['suite']['config_hash']})  beta {record['beta']:g}  "
            f"seeds {record['seeds']}  sandbox {record['sandbox']['backend']}")
    if record["status"] != "ok":
        return f"{head}\nstatus: {record['status']}\nerror: {clean_block(record['error'])}"
    s = SUITES.get(record["suite"]["name"]).summary(record)
    times = ", ".join(f"{k} {v:.1f}s" for k, v in record["timings"].items())
    extra = [block for e in s.extra for block in ("", e)]
    return "\n".join([
        head, "",
        tabulate([(r.label, r.value, r.note) for r in s.rows], headers=["metric", "value [95% CI]", "note"]), "",
        tabulate(s.seed_rows, headers=s.seed_headers), *extra, "",
        f"verdict: {s.verdict}", f"timings: {times}",
    ])
