"""Judging two answer files directly (``harness judge``): load, pair by prompt, judge, report.

Answer files are ours (JSON lines, UTF-8, an optional byte-order mark, any line ending, with string
fields ``prompt`` and ``output``; optional ``id``, what the CIs cluster on, default the prompt, and
``category``: single-answer judges grade math / reasoning / coding against the reference), or
AlpacaEval, MT-Bench or Arena-Hard files (harness.formats; the format is detected, each file on its
own). Every error names the file and the line (or array item).

Pairing rules: every output needs a reference with the same prompt; a prompt twice in the
references is refused; a prompt twice in the outputs with the same output is judged once (the
first line; the rest are counted in ``n_duplicate_prompts``), with different outputs it is refused
(judging both would weigh that prompt twice). References that no output answers are counted in
``n_missing_outputs``. Both counts, empty outputs and every other doubt about a result are listed
in the report's ``warnings``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.formats import QUESTION_FORMATS, AnswerFile, AnswerFileError, detect_format, read_answers
from harness.judges.base import Comparison
from harness.judges.llm import LLMJudge
from harness.judges.winrate import win_rate_report
from harness.viewer import judge_page

SHOW = 60  # characters of a prompt quoted in a message


def _needs_questions(path: Path, fmt: str) -> bool:
    return (detect_format(Path(path)) if fmt == "auto" else fmt) in QUESTION_FORMATS


def load_answers(path: Path, fmt: str = "auto", questions: Path | None = None) -> AnswerFile:
    """An answer file in any format harness.formats reads (``fmt`` "auto": detected)."""
    return read_answers(Path(path), fmt, questions)


def _by_prompt(references: AnswerFile) -> dict[str, tuple[dict, int]]:
    found: dict[str, tuple[dict, int]] = {}
    for row, line in zip(references.rows, references.lines, strict=True):
        if row["prompt"] in found:
            raise AnswerFileError(f"{references.where(line)}: the prompt {row['prompt'][:SHOW]!r} is already at line "
                                  f"{found[row['prompt']][1]}; keep one reference per prompt")
        found[row["prompt"]] = (row, line)
    return found


def pair_answers(outputs: AnswerFile, references: AnswerFile) -> tuple[list[Comparison], dict]:
    """Comparisons in output-file order, and the coverage counts (see the module's pairing rules)."""
    refs = _by_prompt(references)
    seen: dict[str, tuple[str, int]] = {}
    comparisons, duplicates = [], 0
    for row, line in zip(outputs.rows, outputs.lines, strict=True):
        prompt = row["prompt"]
        if prompt not in refs:
            raise AnswerFileError(f"{outputs.where(line)}: the prompt {prompt[:SHOW]!r} has no reference in "
                                  f"{references.path}; both files must answer the same prompts")
        if prompt in seen:
            if seen[prompt][0] != row["output"]:
                raise AnswerFileError(
                    f"{outputs.where(line)}: the prompt {prompt[:SHOW]!r} is already answered differently at line "
                    f"{seen[prompt][1]}; keep one output per prompt (judging both would count the prompt twice)")
            duplicates += 1
            continue
        seen[prompt] = (row["output"], line)
        ref = refs[prompt][0]
        comparisons.append(Comparison(
            prompt=prompt, output=row["output"], reference=ref["output"], group=str(row.get("id", prompt)),
            category=row["category"] or ref["category"]))
    missing = [p for p in refs if p not in seen]
    coverage = {"n_references": len(refs), "n_missing_outputs": len(missing), "n_duplicate_prompts": duplicates,
                "warnings": []}
    for f in (outputs, references):
        if f.ignored_turns:
            coverage["warnings"].append(
                f"{f.ignored_turns} answer(s) in {f.path} have turns after the first: only the first turn is judged "
                "(the second prompt depends on each model's first answer)")
    if missing:
        coverage["warnings"].append(
            f"{len(missing)} of {len(refs)} reference prompts have no output in {outputs.path} (e.g. "
            f"{missing[0][:SHOW]!r}): the win rate covers only the {len(seen)} answered")
    if duplicates:
        coverage["warnings"].append(f"{duplicates} repeated line(s) in {outputs.path} (same prompt, same output) "
                                    "were judged once")
    return comparisons, coverage


def write_annotations(path: Path, judge: LLMJudge, comparisons: list[Comparison], judgments) -> None:
    """One JSON line per comparison (preference null when not judged), for audits."""
    with open(path, "w") as f:
        for c, j in zip(comparisons, judgments, strict=True):
            pref = None if j is None or math.isnan(j.preference) else j.preference
            f.write(json.dumps({"judge": judge.id, "judge_hash": judge.hash, "endpoint": judge.endpoint,
                                "group": c.group, "prompt": c.prompt,
                                "preference": pref, "details": None if j is None else j.details}) + "\n")


def judge_comparisons(judge: LLMJudge, comparisons: list[Comparison], *, seed: int = 0,
                      annotations: Path | None = None, view: Path | None = None) -> dict:
    """Judge and summarise: win-rate metrics, diagnostics, accounting and provenance in one dict.
    ``view``: also write the answer viewer page (harness.viewer) of the comparisons and verdicts there."""
    run = judge.run(comparisons)
    if annotations:
        write_annotations(annotations, judge, comparisons, run.judgments)
    report = summarize_run(judge, comparisons, run, seed=seed)
    if view:
        Path(view).write_text(judge_page(report, comparisons, run.judgments), encoding="utf-8")
    return report


def _run_warnings(judge: LLMJudge, comparisons: list[Comparison], run, not_judged: list[dict]) -> list[str]:
    warnings = []
    empty = sum(not c.output.strip() for c in comparisons)
    if empty:
        warnings.append(f"{empty} of {len(comparisons)} outputs are empty: each is judged as it stands, and the LC "
                        "win rate leans on them (its length difference is the whole reference)")
    if run.n_logprob_fallbacks:
        warnings.append(f"{run.n_logprob_fallbacks} of {run.n_calls} calls of log-probs judge {judge.id} got no "
                        "log-probs from the endpoint and were read from the text as hard verdicts (not cached): "
                        "use an endpoint that returns log-probs, or --judge pairwise-verdict")
    if run.n_conflicting_calls:
        warnings.append(f"{run.n_conflicting_calls} judge calls answered with conflicting verdict labels (e.g. "
                        "[[A]] and [[B]]) twice: counted unparseable, never decided")
    if not_judged:
        warnings.append(f"{len(not_judged)} comparisons not judged: the endpoint refused them (first: "
                        f"{not_judged[0]['reason']})")
    estimated = run.usage.get("estimated_token_calls", 0)
    if estimated:
        warnings.append(f"the endpoint returned no token usage for {estimated} of {run.usage['completions']} "
                        "replies: their tokens (and cost, budgets) are ESTIMATES counted here (UTF-8 bytes / 3 per "
                        "text, plus message framing; harness.llm_client.estimate_tokens)")
    graded = sum(j is not None and j.details.get("status") == "graded" for j in run.judgments)
    if graded:
        warnings.append(f"{graded} of {len(comparisons)} answers have no reference answer: graded alone (in the "
                        "mean grade), not in the win rate against the references")
    return warnings


def _grade_fields(run) -> dict:
    """Single mode: the mean 1-10 grade of the policy's answers (FastChat's MT-Bench score)."""
    grades = [j.details["grades"]["output"] for j in run.judgments
              if j is not None and j.details.get("status") in ("ok", "graded")]
    return {"n_graded": len(grades), "mean_grade": sum(grades) / len(grades) if grades else None}


def summarize_run(judge: LLMJudge, comparisons: list[Comparison], run, *, seed: int = 0) -> dict:
    """The report of ``judge_comparisons`` for a run already made (``judge.run(comparisons)``)."""
    judged = [(c, j) for c, j in zip(comparisons, run.judgments, strict=True)
              if j is not None and not math.isnan(j.preference)]
    metrics = win_rate_report([j.preference for _, j in judged], [len(c.output) for c, _ in judged],
                              [len(c.reference) for c, _ in judged], [c.group for c, _ in judged],
                              discrete_preferences=[j.details["discrete"] for _, j in judged], seed=seed)
    not_judged = [{"group": c.group, "reason": j.details["reason"]}
                  for c, j in zip(comparisons, run.judgments, strict=True)
                  if j is not None and j.details.get("status") == "not_judged"]
    return {
        "judge": judge.id, "judge_hash": judge.hash, "judge_version": judge.spec.version,
        "mode": judge.spec.mode, "model": judge.spec.model, "endpoint": judge.endpoint,
        **metrics,
        **(_grade_fields(run) if judge.spec.mode == "single" else {}),
        "n_graded_only": sum(j is not None and j.details.get("status") == "graded" for j in run.judgments),
        "n_total": len(comparisons),
        "n_unparseable": sum(j is not None and j.details.get("status") == "unparseable" for j in run.judgments),
        "n_not_judged": sum(j is None for j in run.judgments) + len(not_judged),
        "not_judged": not_judged,
        "n_unparseable_calls": run.n_unparseable_calls, "n_conflicting_calls": run.n_conflicting_calls,
        "n_logprob_fallbacks": run.n_logprob_fallbacks,
        **run.diagnostics,
        "n_calls": run.n_calls, "n_cached": run.n_cached,
        **run.usage,
        "cost_usd": run.usage["cost_usd"] if judge.cost_known else None,  # None: no prices for this model
        "stopped": run.stopped,
        "warnings": metrics["warnings"] + _run_warnings(judge, comparisons, run, not_judged),
    }


def judge_answer_files(outputs: Path, references: Path, judge: LLMJudge, *, seed: int = 0,
                       annotations: Path | None = None, formats: tuple[str, str] = ("auto", "auto"),
                       questions: Path | None = None, view: Path | None = None) -> dict:
    """Judge ``outputs`` against ``references`` (each in its format, "auto" detects it; ``questions``: the
    question file of MT-Bench / Arena-Hard answers, for both files)."""
    uses = [_needs_questions(outputs, formats[0]), _needs_questions(references, formats[1])]
    if questions is not None and not any(uses):
        raise AnswerFileError(f"--questions goes with MT-Bench or Arena-Hard answer files; {outputs} and "
                              f"{references} hold their prompts themselves")
    out_file = load_answers(outputs, formats[0], questions if uses[0] else None)
    ref_file = load_answers(references, formats[1], questions if uses[1] else None)
    comparisons, coverage = pair_answers(out_file, ref_file)
    report = judge_comparisons(judge, comparisons, seed=seed, annotations=annotations, view=view)
    return {**report, **coverage, "warnings": coverage["warnings"] + report["warnings"]}
