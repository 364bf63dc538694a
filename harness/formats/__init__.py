"""The field's answer-file formats in and out: ours (JSON lines), AlpacaEval, MT-Bench, Arena-Hard.

``read_answers`` / ``detect_format`` (harness.formats.read, harness.formats.turns) for ``harness judge``;
``write_answers`` (harness.formats.write) for ``harness bench --answers`` and ``harness show --answers``.
"""

from __future__ import annotations

from pathlib import Path

from harness.formats.read import (
    FORMATS,
    QUESTION_FORMATS,
    AnswerFile,
    AnswerFileError,
    detect_format,
    items_of,
    read_alpaca,
    read_ours,
)
from harness.formats.turns import read_arena_hard, read_mt_bench
from harness.formats.write import safe_model_id, write_answers


def read_answers(path: Path, fmt: str = "auto", questions: Path | None = None) -> AnswerFile:
    """Read an answer file (``fmt``: one of FORMATS, or "auto" to detect it); ``questions`` is the
    question file that MT-Bench and Arena-Hard v0.1 answers need."""
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise AnswerFileError(f"unknown answer format {fmt!r}; choices: auto, {', '.join(FORMATS)}")
    items, unit = items_of(path)
    if not items:
        raise AnswerFileError(f"{path}: no answers (an empty file, or only blank lines)")
    reader = {"jsonl": read_ours, "alpaca_eval": read_alpaca, "mt_bench": read_mt_bench,
              "arena_hard": read_arena_hard}[fmt]
    kwargs = {"questions": questions} if fmt in QUESTION_FORMATS else {}
    if questions is not None and not kwargs:
        raise AnswerFileError(f"--questions goes with MT-Bench or Arena-Hard answer files; {path} is {fmt}")
    return reader(path, items, unit, **kwargs)


__all__ = ["FORMATS", "QUESTION_FORMATS", "AnswerFile", "AnswerFileError", "detect_format", "read_answers",
           "safe_model_id", "write_answers"]
