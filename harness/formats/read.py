"""Reading answer files in the formats of the field's evaluation tools, into one shape.

Every reader returns an ``AnswerFile`` whose rows are ``{"prompt", "output", "id", "category"}``
(strings; ``id`` is what CIs cluster on and what pairs the two files of a question-based format).

Formats (``FORMATS``; ``detect_format`` tells them apart by the first object's fields):

- ``jsonl``: ours, JSON lines ``{"prompt", "output"}`` with optional ``id`` and ``category``.
- ``alpaca_eval``: AlpacaEval's ``model_outputs.json``, a JSON array of ``{"instruction", "output",
  "generator"}`` (``dataset``, ``datasplit`` and other fields are ignored); JSON lines of the same
  objects are read too.
- ``mt_bench``: FastChat's MT-Bench answer files (``data/mt_bench/model_answer/MODEL.jsonl``): JSON
  lines ``{"question_id", "model_id", "choices": [{"index", "turns": [str, ...]}]}``. They hold no
  prompts: the question file (``data/mt_bench/question.jsonl``: ``{"question_id", "category",
  "turns": [str, ...]}``) gives them. The first turn of the first choice is read (our judges judge one
  prompt and one answer); answers with more turns are counted in ``ignored_turns``.
- ``arena_hard``: Arena-Hard-Auto's answer files, v0.1 (``{"question_id", "model_id", "choices":
  [{"turns": [{"content"}]}]}`` with ``question.jsonl`` rows ``{"question_id", "category", "turns":
  [{"content"}]}``) and v2 (``{"uid", "model", "messages": [{"role", "content"}]}``, the assistant's
  content a string or ``{"answer"}``, with ``question.jsonl`` rows ``{"uid", "category", "prompt"}``;
  v2 answers carry their prompt, so the question file is optional there).

Every error names the file, the line (or array item) and the format expected; a file whose format
cannot be told names every format and its fields.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("jsonl", "alpaca_eval", "mt_bench", "arena_hard")
QUESTION_FORMATS = ("mt_bench", "arena_hard")  # answer files that need (or may use) a question file
EXPECTED = {
    "jsonl": 'our JSON lines, one {"prompt": str, "output": str} object per line (optional "id", "category")',
    "alpaca_eval": 'AlpacaEval model_outputs.json: a JSON array of {"instruction": str, "output": str, '
                   '"generator": str}',
    "mt_bench": 'MT-Bench answers: JSON lines of {"question_id", "model_id", "choices": [{"turns": [str, ...]}]}, '
                'with its question file (--questions: {"question_id", "category", "turns": [str, ...]})',
    "arena_hard": 'Arena-Hard answers: JSON lines of {"question_id", "model_id", "choices": [{"turns": '
                  '[{"content": str}]}]} (v0.1, with --questions) or {"uid", "model", "messages": '
                  '[{"role", "content"}]} (v2)',
}


class AnswerFileError(ValueError):
    """An answer or question file is malformed, of an unknown format, or the two files do not match."""


@dataclass(frozen=True)
class AnswerFile:
    path: Path
    rows: list[dict]  # {"prompt", "output", "id", "category"}, in file order
    lines: list[int]  # the line (JSON lines) or item (JSON array) number of each row, 1-based
    format: str = "jsonl"
    unit: str = "line"  # what ``lines`` count: "line" or "item"
    ignored_turns: int = 0  # MT-Bench / Arena-Hard answers with turns after the first (not judged)
    extra: dict = field(default_factory=dict)

    def where(self, number: int) -> str:
        return f"{self.path}:{number}" if self.unit == "line" else f"{self.path} item {number}"


def expected_formats() -> str:
    return "; ".join(f"{name} ({text})" for name, text in EXPECTED.items())


def _decode(path: Path, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnswerFileError(f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                              "save the file as UTF-8") from None


def _json_lines(path: Path, data: bytes) -> list[tuple[int, object]]:
    out = []
    for number, raw in enumerate(data.splitlines(), start=1):
        line = _decode(path, number, raw)
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except ValueError as exc:
            hint = ""
            if line.strip() in ("[", "{"):
                hint = ("; answer files are JSON lines, one whole object per line (a JSON array is read as "
                        "AlpacaEval's model_outputs.json; convert others with: jq -c '.[]' FILE)")
            raise AnswerFileError(f"{path}:{number}: not JSON ({exc}){hint}") from None
    return out


def items_of(path: Path) -> tuple[list[tuple[int, object]], str]:
    """((number, JSON value) per line or array item, "line" or "item")."""
    data = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)
    if data.lstrip().startswith(b"["):
        text = _decode(path, 1, data)
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise AnswerFileError(f"{path}: starts like a JSON array (AlpacaEval's model_outputs.json) but is not "
                                  f"valid JSON ({exc})") from None
        if not isinstance(value, list):
            raise AnswerFileError(f"{path}: not a JSON array")
        return list(enumerate(value, start=1)), "item"
    return _json_lines(path, data), "line"


def _kind(obj) -> str | None:
    """The format an object's fields say it is in, or None."""
    if not isinstance(obj, dict):
        return None
    if "prompt" in obj and "output" in obj:
        return "jsonl"
    if "instruction" in obj and "output" in obj:
        return "alpaca_eval"
    if "uid" in obj and "messages" in obj:
        return "arena_hard"
    if "question_id" in obj and isinstance(obj.get("choices"), list):
        turns = (obj["choices"][0] or {}).get("turns") if obj["choices"] and isinstance(obj["choices"][0], dict) else None
        if isinstance(turns, list) and turns:
            return "arena_hard" if isinstance(turns[0], dict) else "mt_bench"
    return None


def detect_format(path: Path) -> str:
    """The format of an answer file from its first object; AnswerFileError naming every format when unknown."""
    items, unit = items_of(path)
    if not items:
        raise AnswerFileError(f"{path}: no answers (an empty file, or only blank lines)")
    number, first = items[0]
    kind = _kind(first)
    if unit == "item":
        if kind == "alpaca_eval" or (isinstance(first, dict) and "instruction" in first):
            return "alpaca_eval"  # the reader names a missing field
        raise AnswerFileError(f"{path}: a JSON array is read as AlpacaEval's model_outputs.json, whose items are "
                              f"{{\"instruction\", \"output\", \"generator\"}}; item {number} is not (fields: "
                              f"{_fields(first)}). Our own format is JSON lines (convert with: jq -c '.[]' FILE)")
    if kind is None:
        if isinstance(first, list):
            raise AnswerFileError(f"{path}:{number}: a JSON array, not an object; answer files are JSON lines, one "
                                  "object per line (convert with: jq -c '.[]' FILE)")
        raise AnswerFileError(f"{path}:{number}: cannot tell the answer format from the fields {_fields(first)}; "
                              f"expected one of: {expected_formats()}")
    return kind


def _fields(obj) -> str:
    if isinstance(obj, dict):
        return ", ".join(sorted(map(str, obj))[:8]) or "none"
    return f"a JSON {type(obj).__name__}, not an object"


def need_str(where: str, obj, name: str, fmt: str) -> str:
    if not isinstance(obj, dict):
        raise AnswerFileError(f"{where}: a JSON {type(obj).__name__}, not an object ({EXPECTED[fmt]})")
    if name not in obj:
        raise AnswerFileError(f"{where}: no field \"{name}\" ({EXPECTED[fmt]})")
    if not isinstance(obj[name], str):
        raise AnswerFileError(f"{where}: field \"{name}\" must be a string, not {type(obj[name]).__name__}")
    return obj[name]


def row_id(where: str, obj: dict, name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise AnswerFileError(f"{where}: field \"{name}\" must be a string or an integer")
    return str(value)


def where_of(path: Path, number: int, unit: str) -> str:
    return f"{path}:{number}" if unit == "line" else f"{path} item {number}"


def read_ours(path, items, unit) -> AnswerFile:
    rows, lines = [], []
    for number, obj in items:
        where = where_of(path, number, unit)
        if isinstance(obj, list):
            raise AnswerFileError(f"{where}: a JSON array, not an object; answer files are JSON lines, one object "
                                  "per line (convert with: jq -c '.[]' FILE)")
        prompt = need_str(where, obj, "prompt", "jsonl")
        output = need_str(where, obj, "output", "jsonl")
        key = row_id(where, obj, "id") if "id" in obj else prompt
        category = obj.get("category", "")
        if not isinstance(category, str):
            raise AnswerFileError(f"{where}: field \"category\" must be a string")
        rows.append({"prompt": prompt, "output": output, "id": key, "category": category})
        lines.append(number)
    return AnswerFile(path, rows, lines, "jsonl", unit)


def read_alpaca(path, items, unit) -> AnswerFile:
    rows, lines, generators = [], [], set()
    for number, obj in items:
        where = where_of(path, number, unit)
        prompt = need_str(where, obj, "instruction", "alpaca_eval")
        output = need_str(where, obj, "output", "alpaca_eval")
        generators.add(str(obj.get("generator", "")))
        # AlpacaEval's "dataset" (helpful_base, koala, ...) is a source, not a grading category
        rows.append({"prompt": prompt, "output": output, "id": prompt, "category": ""})
        lines.append(number)
    return AnswerFile(path, rows, lines, "alpaca_eval", unit, extra={"generators": sorted(generators)})
