"""Writing a run's answers (and the reference answers) in the field's formats, in each tool's layout.

``write_answers(folder, fmt, ...)`` writes two answer files, the policy's (under ``model``) and the
references' (under ``reference``), so that ``harness judge`` (or the tool itself) can judge one against
the other:

- ``jsonl``: ``FOLDER/MODEL.jsonl``, ``FOLDER/reference.jsonl`` (``{"prompt", "output", "id", "category"}``)
- ``alpaca_eval``: ``FOLDER/MODEL/model_outputs.json``, ``FOLDER/reference/model_outputs.json`` (AlpacaEval's
  ``results/<model>/model_outputs.json``: a JSON array of ``{"instruction", "output", "generator", "dataset"}``)
- ``mt_bench`` and ``arena_hard``: ``FOLDER/question.jsonl`` and ``FOLDER/model_answer/MODEL.jsonl``,
  ``FOLDER/model_answer/reference.jsonl`` (FastChat's ``data/mt_bench/...`` layout; Arena-Hard v0.1's
  ``data/arena-hard-v0.1/...``)

``model`` comes from a loss name (untrusted): ``safe_model_id`` keeps letters, digits, ``.``, ``_``
and ``-`` so that it can only name a file inside ``folder``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.formats.read import FORMATS

REFERENCE = "reference"


def safe_model_id(name: str, limit: int = 64) -> str:
    """A file-name-safe model id from any string (never empty, never "." or "..", never "reference")."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip(".-")[:limit] or "model"
    return f"{cleaned}-policy" if cleaned == REFERENCE else cleaned


def _dump_lines(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _dump_array(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_answers(folder: str | Path, fmt: str, *, model: str, prompts: list[str], outputs: list[str],
                  references: list[str], ids: list[str] | None = None, categories: list[str] | None = None,
                  dataset: str = "harness") -> list[Path]:
    """Write the policy's ``outputs`` and the ``references`` to ``prompts`` (same order) under ``folder``
    in format ``fmt`` (one of FORMATS); return the files written. ``ids`` default to 1, 2, ...
    (MT-Bench's integer question ids)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; choices: {', '.join(FORMATS)}")
    if not (len(prompts) == len(outputs) == len(references)):
        raise ValueError("prompts, outputs and references must have one entry per prompt")
    folder = Path(folder)
    model = safe_model_id(model)
    ids = list(ids) if ids is not None else list(range(1, len(prompts) + 1))
    categories = list(categories) if categories is not None else [""] * len(prompts)
    sides = ((model, outputs), (REFERENCE, references))
    if fmt == "jsonl":
        return [_dump_lines(folder / f"{name}.jsonl",
                            [{"prompt": p, "output": o, "id": i, "category": c}
                             for p, o, i, c in zip(prompts, texts, ids, categories, strict=True)])
                for name, texts in sides]
    if fmt == "alpaca_eval":
        return [_dump_array(folder / name / "model_outputs.json",
                            [{"instruction": p, "output": o, "generator": name, "dataset": dataset}
                             for p, o in zip(prompts, texts, strict=True)])
                for name, texts in sides]
    if fmt == "mt_bench":
        questions = [{"question_id": i, "category": c, "turns": [p]} for p, i, c in zip(prompts, ids, categories,
                                                                                      strict=True)]
        turn = (lambda text: text)  # noqa: E731  (MT-Bench turns are strings)
    else:
        questions = [{"question_id": i, "category": c or dataset, "cluster": c or dataset, "turns": [{"content": p}]}
                     for p, i, c in zip(prompts, ids, categories, strict=True)]
        turn = (lambda text: {"content": text})  # noqa: E731  (Arena-Hard v0.1 turns are objects)
    written = [_dump_lines(folder / "question.jsonl", questions)]
    for name, texts in sides:
        written.append(_dump_lines(folder / "model_answer" / f"{name}.jsonl", [
            {"question_id": i, "answer_id": f"{name}-{i}", "model_id": name,
             "choices": [{"index": 0, "turns": [turn(o)]}]}
            for i, o in zip(ids, texts, strict=True)]))
    return written
