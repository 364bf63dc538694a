"""Judging two answer files directly (``harness judge``): load, pair by prompt, judge, report.

Answer files are JSON lines with ``prompt`` and ``output``; optional ``id`` (what the CIs cluster
on; default the prompt) and ``category`` (single-answer judges grade math / reasoning / coding
against the reference). Every output must have a reference with the same prompt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.judges.base import Comparison
from harness.judges.llm import LLMJudge
from harness.judges.winrate import win_rate_report


class AnswerFileError(ValueError):
    """An answer file is malformed or the two files do not match."""


def load_answers(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise AnswerFileError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not isinstance(row.get("output"), str):
            raise AnswerFileError(f"{path}:{number}: each line needs string fields \"prompt\" and \"output\"")
        rows.append(row)
    if not rows:
        raise AnswerFileError(f"{path}: no answers")
    return rows


def pair_answers(outputs: list[dict], references: list[dict]) -> list[Comparison]:
    by_prompt: dict[str, dict] = {}
    for row in references:
        if row["prompt"] in by_prompt:
            raise AnswerFileError(f"the references hold the prompt {row['prompt'][:60]!r} twice; keep one")
        by_prompt[row["prompt"]] = row
    missing = [row["prompt"] for row in outputs if row["prompt"] not in by_prompt]
    if missing:
        raise AnswerFileError(f"{len(missing)} output prompt(s) have no reference, e.g. {missing[0][:60]!r}; "
                              "both files must answer the same prompts")
    comparisons = []
    for row in outputs:
        ref = by_prompt[row["prompt"]]
        comparisons.append(Comparison(
            prompt=row["prompt"], output=row["output"], reference=ref["output"],
            group=str(row.get("id", row["prompt"])), category=str(row.get("category", ref.get("category", "")))))
    return comparisons


def write_annotations(path: Path, judge: LLMJudge, comparisons: list[Comparison], judgments) -> None:
    """One JSON line per comparison (preference null when not judged), for audits."""
    with open(path, "w") as f:
        for c, j in zip(comparisons, judgments, strict=True):
            pref = None if j is None or math.isnan(j.preference) else j.preference
            f.write(json.dumps({"judge": judge.id, "judge_hash": judge.hash, "group": c.group, "prompt": c.prompt,
                                "preference": pref, "details": None if j is None else j.details}) + "\n")


def judge_comparisons(judge: LLMJudge, comparisons: list[Comparison], *, seed: int = 0,
                      annotations: Path | None = None) -> dict:
    """Judge and summarise: win-rate metrics, diagnostics, accounting and provenance in one dict."""
    run = judge.run(comparisons)
    if annotations:
        write_annotations(annotations, judge, comparisons, run.judgments)
    return summarize_run(judge, comparisons, run, seed=seed)


def summarize_run(judge: LLMJudge, comparisons: list[Comparison], run, *, seed: int = 0) -> dict:
    """The report of ``judge_comparisons`` for a run already made (``judge.run(comparisons)``)."""
    judged = [(c, j) for c, j in zip(comparisons, run.judgments, strict=True)
              if j is not None and not math.isnan(j.preference)]
    metrics = win_rate_report([j.preference for _, j in judged], [len(c.output) for c, _ in judged],
                              [len(c.reference) for c, _ in judged], [c.group for c, _ in judged],
                              discrete_preferences=[j.details["discrete"] for _, j in judged], seed=seed)
    return {
        "judge": judge.id, "judge_hash": judge.hash, "judge_version": judge.spec.version,
        "mode": judge.spec.mode, "model": judge.spec.model,
        **metrics,
        "n_total": len(comparisons),
        "n_unparseable": sum(j is not None and math.isnan(j.preference) for j in run.judgments),
        "n_not_judged": sum(j is None for j in run.judgments),
        "n_unparseable_calls": run.n_unparseable_calls,
        **run.diagnostics,
        "n_calls": run.n_calls, "n_cached": run.n_cached,
        **run.usage,
        "cost_usd": run.usage["cost_usd"] if judge.cost_known else None,  # None: no prices for this model
        "stopped": run.stopped,
    }


def judge_answer_files(outputs: Path, references: Path, judge: LLMJudge, *, seed: int = 0,
                       annotations: Path | None = None) -> dict:
    comparisons = pair_answers(load_answers(outputs), load_answers(references))
    return judge_comparisons(judge, comparisons, seed=seed, annotations=annotations)
