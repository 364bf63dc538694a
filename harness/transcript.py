"""A run's answers: per prompt, the policy's answer in each seed beside the reference answer, with the
judge's verdict and, for LLM judges, its reasoning. The record keeps them (``record["answers"]``)
for the viewer (harness.viewer) and for exports in the field's formats (harness.formats).

The block (optional in a record; absent in records made before it and in failed runs)::

    answers {point       where the answers were sampled, e.g. "end of training (step 128)"
             judge       {id, kind: "code" | "llm"}
             prompts     [str]                 the suite's evaluation prompts, in table order
             references  [str]                 the reference answer each seed's answer was judged against
             categories  [str] | null
             seeds       [{seed, outputs [str], preference [float in [0, 1] | null],
                           notes [str | null] | null, reasoning [str | null] | null}]}

``preference`` is the judge's verdict on that answer against that reference (1 the policy's answer
is better, 0.5 a tie, 0 worse; null when it gave none); ``notes`` a code judge's scores in words;
``reasoning`` an LLM judge's own answer (as much as its cache keeps). One answer per prompt and seed
(the first sample) keeps a record small. Texts are capped at ``MAX_TEXT`` characters.

Records from elsewhere are untrusted: ``check_answers`` verifies every type and length before a
board or the viewer reads the block; the viewer escapes every string.
"""

from __future__ import annotations

import math

from harness.formats import write_answers

MAX_TEXT = 4000  # characters kept of one prompt, answer, reference, note or reasoning
MAX_PROMPTS = 5000
MAX_POINT = 300  # characters of the block's "point" (where and how the answers were taken)
KINDS = ("code", "llm")


class AnswersError(ValueError):
    """A record's answers block is malformed; the message names the field."""


def cap(text) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]"


def seed_answers(seed: int, outputs: list[str], preference: list[float | None], *,
                 notes: list[str | None] | None = None, reasoning: list[str | None] | None = None) -> dict:
    """One seed's entry of the block (JSON-ready)."""
    def pref(p):
        return None if p is None or (isinstance(p, float) and math.isnan(p)) else round(float(p), 4)

    return {"seed": int(seed), "outputs": [cap(o) for o in outputs], "preference": [pref(p) for p in preference],
            "notes": None if notes is None else [None if n is None else cap(n) for n in notes],
            "reasoning": None if reasoning is None else [None if r is None else cap(r) for r in reasoning]}


def make_answers(prompts: list[str], references: list[str], seeds: list[dict], *, point: str, judge_id: str,
                 judge_kind: str, categories: list[str] | None = None) -> dict:
    """The record's ``answers`` block, checked (raises AnswersError)."""
    block = {"point": point, "judge": {"id": judge_id, "kind": judge_kind},
             "prompts": [cap(p) for p in prompts], "references": [cap(r) for r in references],
             "categories": None if categories is None else [str(c) for c in categories], "seeds": list(seeds)}
    return check_answers(block)


def _strings(value, where: str, n: int, *, optional_items: bool = False) -> None:
    if not isinstance(value, list) or len(value) != n:
        raise AnswersError(f"answers.{where} must be a list of {n} strings")
    for i, v in enumerate(value):
        if v is None and optional_items:
            continue
        if not isinstance(v, str) or len(v) > MAX_TEXT + 6:
            raise AnswersError(f"answers.{where}[{i}] must be a string of at most {MAX_TEXT} characters")


def check_answers(block, n_seeds: int | None = None) -> dict:
    """``block`` unchanged when every field has its type and length (see the module doc), else AnswersError."""
    if not isinstance(block, dict):
        raise AnswersError("answers must be an object")
    for key in ("point", "judge", "prompts", "references", "seeds"):
        if key not in block:
            raise AnswersError(f"answers lacks {key!r}")
    if not isinstance(block["point"], str) or len(block["point"]) > MAX_POINT:
        raise AnswersError(f"answers.point must be a string of at most {MAX_POINT} characters")
    judge = block["judge"]
    if not isinstance(judge, dict) or not isinstance(judge.get("id"), str) or judge.get("kind") not in KINDS:
        raise AnswersError(f"answers.judge must be {{id: str, kind: {' | '.join(KINDS)}}}")
    prompts = block["prompts"]
    if not isinstance(prompts, list) or not 0 < len(prompts) <= MAX_PROMPTS:
        raise AnswersError(f"answers.prompts must be a list of 1 to {MAX_PROMPTS} strings")
    n = len(prompts)
    _strings(prompts, "prompts", n)
    _strings(block["references"], "references", n)
    if block.get("categories") is not None:
        _strings(block["categories"], "categories", n)
    seeds = block["seeds"]
    if not isinstance(seeds, list) or not seeds or (n_seeds is not None and len(seeds) > n_seeds):
        raise AnswersError("answers.seeds must be a non-empty list, at most one entry per seed of the record")
    for i, s in enumerate(seeds):
        _check_seed(s, i, n)
    return block


def _check_seed(s, i: int, n: int) -> None:
    if not isinstance(s, dict) or isinstance(s.get("seed"), bool) or not isinstance(s.get("seed"), int):
        raise AnswersError(f"answers.seeds[{i}] must be an object with an integer seed")
    _strings(s.get("outputs"), f"seeds[{i}].outputs", n)
    prefs = s.get("preference")
    if not isinstance(prefs, list) or len(prefs) != n:
        raise AnswersError(f"answers.seeds[{i}].preference must be a list of {n} numbers or nulls")
    for j, p in enumerate(prefs):
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1):
            raise AnswersError(f"answers.seeds[{i}].preference[{j}] must be a number in [0, 1] or null")
    for key in ("notes", "reasoning"):
        if s.get(key) is not None:
            _strings(s[key], f"seeds[{i}].{key}", n, optional_items=True)


def shown_answers(judge, outputs: list[str], judgments) -> dict:
    """Per prompt (one answer each: ``outputs`` and their ``judgments``), the text, its verdict, the judge's
    scores in words (a code judge's score, an LLM judge's 1-10 grades) and an LLM judge's reasoning: the
    per-seed part of the record's answers block (``block_from_seeds``)."""
    llm = hasattr(judge, "spec")  # harness.judges.llm.LLMJudge; the others are code
    notes, reasoning = [], []
    for j in judgments:
        d = j.details
        grades = d.get("grades") or {}
        if "score" in d and "reference_score" in d:
            notes.append(f"judge's score {d['score']:.2f} (the reference answer's {d['reference_score']:.2f})")
        elif grades.get("output") is not None and grades.get("reference") is not None:
            notes.append(f"grade {grades['output']:g} (the reference answer's {grades['reference']:g})")
        elif grades.get("output") is not None:
            notes.append(f"grade {grades['output']:g} (no reference answer to compare with: no verdict)")
        else:
            notes.append(None)
        reasoning.append(d.get("reasoning"))
    return {"outputs": outputs, "preference": [j.preference for j in judgments], "notes": notes,
            "reasoning": reasoning if llm else None, "judge_kind": "llm" if llm else "code"}


def block_from_seeds(per_seed: list[dict], prompts: list[str], references: list[str] | None, *, judge_id: str,
                     point: str) -> dict | None:
    """The record's answers block from each seed's ``shown_answers`` (under "answers" in its per-seed
    metrics, taken out here); None when a seed has none or no references are at hand."""
    shown = [s.pop("answers", None) for s in per_seed]
    if references is None or any(a is None for a in shown):
        return None
    return make_answers(prompts, references, [
        seed_answers(s["seed"], a["outputs"], a["preference"], notes=a["notes"], reasoning=a["reasoning"])
        for s, a in zip(per_seed, shown, strict=True)], point=point, judge_id=judge_id,
        judge_kind=shown[0]["judge_kind"])


def answer_rows(block: dict) -> list[dict]:
    """One flat row per seed and prompt: {seed, index, prompt, output, reference, category, preference,
    verdict ("win" | "tie" | "loss" | "none"), note, reasoning}, in seed then prompt order."""
    rows = []
    cats = block.get("categories") or [""] * len(block["prompts"])
    for s in block["seeds"]:
        notes = s.get("notes") or [None] * len(block["prompts"])
        reasons = s.get("reasoning") or [None] * len(block["prompts"])
        for i, (prompt, ref) in enumerate(zip(block["prompts"], block["references"], strict=True)):
            p = s["preference"][i]
            rows.append({"seed": s["seed"], "index": i, "prompt": prompt, "output": s["outputs"][i], "reference": ref,
                         "category": cats[i], "preference": p, "verdict": verdict(p), "note": notes[i],
                         "reasoning": reasons[i]})
    return rows


def verdict(preference) -> str:
    if preference is None:
        return "none"
    return "win" if preference > 0.5 else "loss" if preference < 0.5 else "tie"


def export_answers(block: dict, folder, fmt: str, *, model: str, seed: int | None = None) -> list:
    """Write one seed's answers (the block's first seed by default) and the reference answers in a field
    format (harness.formats.write_answers); return the files. ValueError for a seed the block lacks."""
    seeds = {s["seed"]: s for s in block["seeds"]}
    chosen = seeds.get(block["seeds"][0]["seed"] if seed is None else seed)
    if chosen is None:
        raise ValueError(f"the answers have no seed {seed}; seeds: {', '.join(map(str, seeds))}")
    return write_answers(folder, fmt, model=model, prompts=block["prompts"], outputs=chosen["outputs"],
                         references=block["references"], categories=block.get("categories"))
