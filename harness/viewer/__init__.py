"""The answer viewer: one self-contained HTML page (inline CSS and JS, no network) per run, showing per
prompt the reference answer beside the policy's answer in each seed, with the judge's verdict, a code
judge's scores and an LLM judge's reasoning; a search box and seed / verdict filters (plain JS).

Every string in the page comes from a record (untrusted: the loss's name, the answers a trained policy
wrote, an LLM judge's words) and is written through ``html.escape``, in element text only (no
attribute holds free text but the escaped title; the script reads nothing but the DOM's text).

``record_page(record)`` for ``harness show`` and the board's ``answers/`` pages; ``judge_page(...)``
for ``harness judge --html``.
"""

from __future__ import annotations

import re
from html import escape
from importlib.resources import files

from harness.transcript import answer_rows, make_answers, seed_answers

VERDICT_WORDS = {"win": "win", "tie": "tie", "loss": "loss", "none": "no verdict"}


def _answer(row: dict) -> str:
    v = row["verdict"]
    score = "" if row["preference"] is None else f" ({row['preference']:g})"
    parts = [f'<section class="answer {v}" data-seed="{row["seed"]}" data-verdict="{v}">',
             f'<h3>seed {row["seed"]} · <span class="badge">{VERDICT_WORDS[v]}</span>{escape(score)}</h3>',
             f'<p class="text output">{escape(row["output"])}</p>']
    if row["note"]:
        parts.append(f'<p class="note">{escape(row["note"])}</p>')
    if row["reasoning"]:
        parts.append('<details class="reasoning"><summary>the judge\'s reasoning</summary>'
                     f'<pre>{escape(row["reasoning"])}</pre></details>')
    parts.append("</section>")
    return "".join(parts)


def _items(rows: list[dict]) -> str:
    by_prompt: dict[int, list[dict]] = {}
    for r in rows:
        by_prompt.setdefault(r["index"], []).append(r)
    out = []
    for index, group in sorted(by_prompt.items()):
        first = group[0]
        cat = f" · {escape(first['category'])}" if first["category"] else ""
        out.append(f'<article class="item" id="p{index}"><h2>prompt {index + 1}{cat}</h2>'
                   f'<p class="text prompt">{escape(first["prompt"])}</p><div class="cols">'
                   f'<div class="ref"><h3>reference answer</h3><p class="text reference">{escape(first["reference"])}'
                   f'</p></div><div class="answers">{"".join(_answer(r) for r in group)}</div></div></article>')
    return "\n".join(out)


def _meta(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in pairs)


def render_page(title: str, meta: list[tuple[str, str]], block: dict, note: str = "") -> str:
    """The viewer page for an answers block (harness.transcript; checked by the caller)."""
    rows = answer_rows(block)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_WORDS}
    summary = ", ".join(f"{n} {VERDICT_WORDS[v]}" for v, n in counts.items() if n)
    seeds = sorted({r["seed"] for r in rows})
    parts = {
        "title": escape(title), "heading": escape(title),
        "meta": _meta([*meta, ("judge", f"{block['judge']['id']} ({block['judge']['kind']})"),
                       ("answers", block["point"]), ("verdicts", summary)]),
        "note": escape(note or "Per prompt: the reference answer, and the policy's answer in each seed with the "
                       "judge's verdict on it against that reference (1 = the policy's answer is better, 0.5 a tie)."),
        "seed_options": '<option value="">all</option>' + "".join(f'<option value="{s}">{s}</option>' for s in seeds),
        "items": _items(rows),
    }
    page = files("harness.viewer").joinpath("view.html").read_text(encoding="utf-8")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], page)  # one pass: no placeholder in the parts


class NoAnswers(LookupError):  # noqa: N818  (a missing thing, not a fault)
    """The record keeps no answers (made before records kept them, or by a suite that keeps none)."""


def record_page(record: dict) -> str:
    """The viewer page of a record with an ``answers`` block; NoAnswers when it has none."""
    block = record.get("answers")
    if not block:
        raise NoAnswers(f"the record of {record['loss']['name']!r} keeps no answers (made before records kept "
                        "them, or by a suite that keeps none, or a failed run); re-run it with `harness bench`")
    m = record.get("metrics") or {}
    win = m.get("win_rate")
    ci = m.get("win_rate_ci")
    headline = "not measured" if win is None else f"{100 * win:.1f}%" + \
        (f" (95% CI {100 * ci[0]:.1f} – {100 * ci[1]:.1f})" if ci else "")
    meta = [("loss", record["loss"]["name"]), ("sha256", record["loss"]["sha256"]),
            ("suite", f"{record['suite']['name']} ({record['suite']['config_hash']})"),
            ("seeds", ", ".join(str(s) for s in record["seeds"])), ("win rate", headline),
            ("created", record["created_at"])]
    setting = record["loss"].get("hyperparameters")
    if isinstance(setting, dict) and setting:  # a loss with hyper-parameters: one board entry per setting
        meta.insert(2, ("setting", ", ".join(f"{k}={v}" for k, v in setting.items())))
    return render_page(f"Answers: {record['loss']['name']} on {record['suite']['name']}", meta, block)


def _status_note(judgment) -> str | None:
    if judgment is None:
        return "not judged (the run stopped first)"
    status = judgment.details.get("status")
    if status in ("ok", None):
        return None
    return f"{status}: {judgment.details['reason']}" if judgment.details.get("reason") else status


def judge_page(report: dict, comparisons, judgments) -> str:
    """The viewer page of a ``harness judge`` run: each output beside its reference with the verdict and
    the judge's reasoning (one "seed", 0)."""
    prefs = [None if j is None else j.preference for j in judgments]
    reasons = [None if j is None else j.details.get("reasoning") for j in judgments]
    notes = [_status_note(j) for j in judgments]
    block = make_answers([c.prompt for c in comparisons], [c.reference for c in comparisons],
                         [seed_answers(0, [c.output for c in comparisons], prefs, notes=notes, reasoning=reasons)],
                         point="the answer files as given", judge_id=report["judge"], judge_kind="llm",
                         categories=[c.category for c in comparisons])
    win = report.get("win_rate")
    meta = [("model", report.get("model") or ""), ("win rate", "none" if win is None else f"{100 * win:.1f}%"),
            ("judged", f"{report.get('n_judged', 0)} of {report.get('n_total', 0)}")]
    return render_page(f"Answers judged by {report['judge']}", meta, block)


__all__ = ["NoAnswers", "judge_page", "record_page", "render_page"]
