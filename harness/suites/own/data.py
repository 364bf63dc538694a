"""A user's preference data: read (TRL's prompt / chosen / rejected as JSONL, CSV or a ``datasets``
folder), validated with errors that name the rows and the fix, fingerprinted, split reproducibly.

Formats (TRL's preference dataset types, https://huggingface.co/docs/trl/dataset_formats):

* standard: ``prompt``, ``chosen`` and ``rejected`` are strings;
* conversational: ``prompt`` is a list of messages ({"role", "content"}) and ``chosen`` / ``rejected``
  are one assistant message each (a list holding it, as TRL writes them).

Both become ``PreferenceRow(messages, chosen, rejected)``: the prompt's messages and the two answers'
texts. TRL's implicit-prompt form (no ``prompt`` column) is refused with the conversion to make.

The fingerprint is the sha256 of the rows as read (canonical JSON, in file order): the same data in
JSONL, CSV or a datasets folder has the same fingerprint, and any edit changes it. The held-out split
orders the distinct prompts by sha256("split_seed:prompt") and holds out the first ones, so it does not
depend on row order and two machines split alike; every row of a held-out prompt is held out.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("prompt", "chosen", "rejected")
MAX_LISTED = 5  # rows named in one error message


class DataError(ValueError):
    """The preference data cannot be used as it is; the message names the rows and the fix."""


@dataclass(frozen=True)
class PreferenceRow:
    messages: tuple[tuple[str, str], ...]  # the prompt as (role, content) turns
    chosen: str
    rejected: str

    @property
    def prompt_key(self) -> str:
        """The prompt as one string: what identifies a prompt for de-duplication and the split."""
        return json.dumps(self.messages)

    @property
    def user_text(self) -> str:
        """The last user turn (what a judge is shown as the prompt)."""
        return next((c for r, c in reversed(self.messages) if r == "user"), self.messages[-1][1])


def _rows_of(path: Path) -> list[dict]:
    if path.is_dir():
        try:
            from datasets import DatasetDict, load_from_disk

            data = load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001  (datasets raises several kinds; the message says which)
            raise DataError(f"{path}: not a datasets folder saved with save_to_disk ({type(e).__name__}: {e})") from None
        if isinstance(data, DatasetDict):
            if "train" not in data:
                raise DataError(f"{path}: a DatasetDict without a 'train' split (splits: {', '.join(data)}); "
                                "save the split to use with Dataset.save_to_disk")
            data = data["train"]
        return [dict(r) for r in data]
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {n} is not JSON ({e.msg}); write one JSON object per line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {n} is a JSON {type(row).__name__}, not an object with prompt, "
                                "chosen and rejected")
            rows.append(row)
        return rows
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    raise DataError(f"{path}: unknown data format {suffix or '(no suffix)'}; give a .jsonl, .csv or a datasets "
                    "folder (Dataset.save_to_disk)")


def _messages(value, where: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        return (("user", value),)
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                 and m.get("role") in ("system", "user", "assistant") for m in value):
        return tuple((m["role"], m["content"]) for m in value)
    raise DataError(f"{where}: the prompt is neither text nor a list of messages with role (system, user, "
                    f"assistant) and content (got {type(value).__name__})")


def _answer(value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if (isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict)
            and value[0].get("role") == "assistant" and isinstance(value[0].get("content"), str)):
        return value[0]["content"]
    raise DataError(f"{where}: an answer must be text or one assistant message "
                    f"([{{\"role\": \"assistant\", \"content\": ...}}]), got {str(value)[:80]!r}")


def _listed(rows: list[int]) -> str:
    head = ", ".join(str(r) for r in rows[:MAX_LISTED])
    return head + (f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")


def read_preferences(path) -> list[PreferenceRow]:
    """The rows of ``path``, validated: raises DataError naming every problem's rows (1-based) and the fix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raw = _rows_of(path)
    if not raw:
        raise DataError(f"{path}: no rows")
    columns = set().union(*(r.keys() for r in raw))
    missing = [c for c in COLUMNS if any(c not in r for r in raw)]
    if missing:
        hint = (" (TRL's implicit-prompt form: split each conversation into a prompt and its last assistant turn)"
                if "prompt" in missing and {"chosen", "rejected"} <= columns else "")
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} in some or all rows; columns found: "
                        f"{', '.join(sorted(columns))}. Preference data needs prompt, chosen and rejected{hint}")
    rows = [PreferenceRow(_messages(r["prompt"], f"{path}: row {n}"), _answer(r["chosen"], f"{path}: row {n}"),
                          _answer(r["rejected"], f"{path}: row {n}")) for n, r in enumerate(raw, start=1)]
    problems = []
    empty = [n for n, r in enumerate(rows, 1)
             if not r.chosen.strip() or not r.rejected.strip() or not any(c.strip() for _, c in r.messages)]
    if empty:
        problems.append(f"empty prompt or answer in row(s) {_listed(empty)}")
    same = [n for n, r in enumerate(rows, 1) if r.chosen.strip() == r.rejected.strip() and r.chosen.strip()]
    if same:
        problems.append(f"chosen equals rejected (no preference) in row(s) {_listed(same)}")
    seen: dict[PreferenceRow, int] = {}
    dups = []
    for n, r in enumerate(rows, 1):
        if r in seen:
            dups.append(f"{n} (= row {seen[r]})")
        seen.setdefault(r, n)
    if dups:
        problems.append(f"duplicate row(s) {_listed(dups)}")
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems) + ". Fix or drop these rows and run again")
    return rows


def fingerprint(rows: list[PreferenceRow]) -> str:
    """sha256 of the rows as read (format-independent; any edit or reordering changes it)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r.messages, r.chosen, r.rejected], ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def split(rows: list[PreferenceRow], *, seed: int, eval_fraction: float, eval_max: int):
    """(train rows, held-out prompts): the held-out prompts are ``eval_fraction`` of the distinct prompts (at
    least 2, at most ``eval_max``), chosen by a seeded hash of each prompt; their rows never train."""
    prompts = sorted({r.prompt_key for r in rows},
                     key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    k = max(2, min(eval_max, round(eval_fraction * len(prompts))))
    if len(prompts) - k < 1:
        raise DataError(f"{len(prompts)} distinct prompts: too few to hold {k} out and train on the rest; give at "
                        "least 3 distinct prompts (a few hundred for a useful measurement)")
    held = set(prompts[:k])
    train = [r for r in rows if r.prompt_key not in held]
    first = {}
    for r in rows:  # one row per held-out prompt, in the file's order (its chosen answer: the "chosen" reference)
        if r.prompt_key in held:
            first.setdefault(r.prompt_key, r)
    return train, list(first.values())
