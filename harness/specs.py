"""What a command-line argument names: a loss (a file, or a built-in's name) or a record (a record
file, or a run id of the run store, as ``harness runs`` prints it).

One rule everywhere (``bench``, ``check``, ``submit``, ``compare``, ``show``, ``reproduce``, ``export``):
an existing file is that file; otherwise a loss argument is a built-in's name (``dpo``) and a record
argument a run id (``3``, or ``run:3``; looked up by harness.store.record_of). Unknown names answer with
the built-ins ("did you mean").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.builtin import builtin_losses
from harness.registry import UnknownNameError

RUN_ID = re.compile(r"(?:run:|#)?(\d+)")


class SpecError(ValueError):
    """An argument names neither an existing file nor a built-in loss / stored run; the message says which it may name."""


def loss_path(spec: str | Path) -> Path:
    """The loss file ``spec`` names: an existing path, else the built-in loss of that name."""
    path = Path(spec)
    if path.exists() or path.suffix == ".py" or "/" in str(spec):
        return path  # a path (missing ones are reported by the loss-file reader, with the path)
    try:
        return builtin_losses().get(str(spec)).path
    except UnknownNameError as e:
        raise SpecError(f"{spec!r} is neither an existing loss file nor a built-in loss: {e}") from None


def run_id(spec: str) -> int | None:
    """The run id ``spec`` names ("3", "run:3", "#3"), or None."""
    found = RUN_ID.fullmatch(str(spec).strip())
    return int(found.group(1)) if found else None


def read_record_file(path: Path) -> dict:
    """A record file's JSON (the bench record's loss, suite, seeds and status present); SpecError naming the
    file otherwise. harness.store.record_of also takes run ids."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpecError(f"{path}: not a readable JSON record ({e})") from None
    if not isinstance(record, dict) or not {"loss", "suite", "seeds", "status"} <= set(record):
        raise SpecError(f"{path}: not a bench record (needs loss, suite, seeds, status)")
    return record
