"""MT-Bench and Arena-Hard answer files and their question files (see harness.formats.read).

A question file maps a question id to its first user turn and its category; an answer row takes its
prompt from there (v2 Arena-Hard answers carry their own). Only the first turn is read: our judges
judge one prompt and one answer, and MT-Bench's second turn depends on the model's first answer, so
the two models' second prompts differ. How many answers had later turns is counted (``ignored_turns``)
and ``harness judge`` warns about it.
"""

from __future__ import annotations

from pathlib import Path

from harness.formats.read import EXPECTED, AnswerFile, AnswerFileError, items_of, need_str, row_id, where_of

QUESTION_FIELDS = ('MT-Bench question.jsonl: {"question_id", "category", "turns": [str, ...]}; Arena-Hard v0.1: '
                   '{"question_id", "category", "turns": [{"content": str}]}; Arena-Hard v2: {"uid", "category", '
                   '"prompt"}')


def _turn_text(where: str, turn) -> str:
    if isinstance(turn, str):
        return turn
    if isinstance(turn, dict) and isinstance(turn.get("content"), str):
        return turn["content"]
    raise AnswerFileError(f"{where}: a turn must be a string (MT-Bench) or {{\"content\": str}} (Arena-Hard)")


def read_questions(path: Path) -> dict[str, dict]:
    """{question id: {"prompt", "category"}} from an MT-Bench or Arena-Hard question file."""
    path = Path(path)
    items, unit = items_of(path)
    if not items:
        raise AnswerFileError(f"{path}: no questions (an empty file)")
    out: dict[str, dict] = {}
    for number, obj in items:
        where = where_of(path, number, unit)
        if not isinstance(obj, dict) or not ({"question_id", "uid"} & obj.keys()):
            raise AnswerFileError(f"{where}: not a question (expected {QUESTION_FIELDS})")
        key = row_id(where, obj, "question_id" if "question_id" in obj else "uid")
        if "turns" in obj:
            if not isinstance(obj["turns"], list) or not obj["turns"]:
                raise AnswerFileError(f"{where}: field \"turns\" must be a non-empty list")
            prompt = _turn_text(where, obj["turns"][0])
        else:
            prompt = need_str(where, obj, "prompt", "arena_hard")
        category = obj.get("category", "")
        if key in out:
            raise AnswerFileError(f"{where}: question id {key!r} appears twice; keep one row per question")
        out[key] = {"prompt": prompt, "category": category if isinstance(category, str) else ""}
    return out


def _questions(path: Path, questions: Path | None, fmt: str) -> dict[str, dict]:
    if questions is None:
        raise AnswerFileError(f"{path}: {fmt} answer files hold no prompts; give their question file with "
                              "--questions (e.g. data/mt_bench/question.jsonl or data/arena-hard-v0.1/question.jsonl)")
    return read_questions(questions)


def _first_choice_turns(where: str, obj: dict, fmt: str) -> list:
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise AnswerFileError(f"{where}: field \"choices\" must be a non-empty list of objects ({EXPECTED[fmt]})")
    turns = choices[0].get("turns")
    if not isinstance(turns, list) or not turns:
        raise AnswerFileError(f"{where}: choices[0].turns must be a non-empty list ({EXPECTED[fmt]})")
    return turns


def _from_questions(path, items, unit, questions, fmt) -> AnswerFile:
    table = _questions(path, questions, fmt)
    rows, lines, later = [], [], 0
    for number, obj in items:
        where = where_of(path, number, unit)
        if not isinstance(obj, dict) or "question_id" not in obj:
            raise AnswerFileError(f"{where}: no field \"question_id\" ({EXPECTED[fmt]})")
        key = row_id(where, obj, "question_id")
        if key not in table:
            raise AnswerFileError(f"{where}: question_id {key!r} is not in the question file {questions}")
        turns = _first_choice_turns(where, obj, fmt)
        output = _turn_text(where, turns[0])
        later += len(turns) > 1
        rows.append({"prompt": table[key]["prompt"], "output": output, "id": key,
                     "category": table[key]["category"]})
        lines.append(number)
    return AnswerFile(path, rows, lines, fmt, unit, ignored_turns=later)


def read_mt_bench(path, items, unit, questions=None) -> AnswerFile:
    return _from_questions(path, items, unit, questions, "mt_bench")


def _v2_row(where: str, obj: dict) -> tuple[str, str]:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise AnswerFileError(f"{where}: field \"messages\" must be a list of {{\"role\", \"content\"}} objects")
    users = [m for m in messages if m.get("role") == "user"]
    answers = [m for m in messages if m.get("role") == "assistant"]
    if not users or not answers:
        raise AnswerFileError(f"{where}: \"messages\" needs a user message and an assistant answer")
    content = answers[0].get("content")
    if isinstance(content, dict):
        content = content.get("answer")
    if not isinstance(content, str) or not isinstance(users[0].get("content"), str):
        raise AnswerFileError(f"{where}: the user's content and the assistant's content (or content.answer) must "
                              "be strings")
    return users[0]["content"], content


def read_arena_hard(path, items, unit, questions=None) -> AnswerFile:
    """v0.1 rows (question_id + choices) need the question file; v2 rows (uid + messages) carry their prompt."""
    first = items[0][1]
    if not (isinstance(first, dict) and "uid" in first):
        return _from_questions(path, items, unit, questions, "arena_hard")
    table = read_questions(questions) if questions is not None else {}
    rows, lines = [], []
    for number, obj in items:
        where = where_of(path, number, unit)
        if not isinstance(obj, dict) or "uid" not in obj:
            raise AnswerFileError(f"{where}: no field \"uid\" ({EXPECTED['arena_hard']})")
        key = row_id(where, obj, "uid")
        prompt, output = _v2_row(where, obj)
        if table and key not in table:
            raise AnswerFileError(f"{where}: uid {key!r} is not in the question file {questions}")
        rows.append({"prompt": prompt, "output": output, "id": key,
                     "category": table.get(key, {}).get("category", "")})
        lines.append(number)
    return AnswerFile(path, rows, lines, "arena_hard", unit)
