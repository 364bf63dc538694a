"""Type and format checks on every record field a board shows or computes with.

A record that enters a board may have been written by anyone, so each field is checked before it
reaches a renderer: dates are ISO-8601, hashes are lowercase hex of the right length, numbers are
finite (never NaN, infinity or a bool), names and texts are strings. Free text (the loss's name,
its error, the source) is allowed any content: the renderers escape it for each sink
(``harness.text``, ``html.escape``); the checks here make sure that what is NOT escaped (dates,
hashes, numbers, file names) cannot carry markup.
"""

from __future__ import annotations

import datetime as _dt
import math
import re

ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
SHA256 = re.compile(r"[0-9a-f]{64}")
CONFIG_HASH = re.compile(r"[0-9a-f]{16}")
MAX_NAME = 200


class FieldError(ValueError):
    """A record field has the wrong type or format; the message names the field."""


def _number(value, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(f"{where} must be a finite number, got {value!r:.60}")


def _string(value, where: str, *, optional: bool = False, limit: int | None = None) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise FieldError(f"{where} must be a string, got {type(value).__name__}")
    if limit is not None and not 0 < len(value) <= limit:
        raise FieldError(f"{where} must have 1 to {limit} characters, has {len(value)}")


def _match(pattern: re.Pattern, value, where: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise FieldError(f"{where} must be {what}, got {str(value)[:60]!r}")


def check_created_at(value) -> None:
    _match(ISO_8601, value, "created_at", "an ISO-8601 time such as 2026-11-27T10:42:01+00:00")
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(f"created_at {value!r} is not a real date and time") from None


def check_fields(record: dict) -> None:
    """Raise FieldError naming the first field of ``record`` (schema already checked) that is malformed."""
    check_created_at(record["created_at"])
    loss, suite = record["loss"], record["suite"]
    _string(loss["name"], "loss.name", limit=MAX_NAME)
    _string(loss["source"], "loss.source")
    _match(SHA256, loss["sha256"], "loss.sha256", "64 lowercase hex digits")
    _string(suite["name"], "suite.name")
    _match(CONFIG_HASH, suite["config_hash"], "suite.config_hash", "16 lowercase hex digits")
    _string(record["error"], "error", optional=True)
    _number(record["beta"], "beta")
    if not isinstance(record["seeds"], list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                        for s in record["seeds"]):
        raise FieldError("seeds must be a list of integers")
    _string(record["judge"].get("id", ""), "judge.id")
    prov = record["provenance"]
    _string(prov.get("harness_version", ""), "provenance.harness_version")
    _string(prov.get("git_revision"), "provenance.git_revision", optional=True)
    _check_metrics(record)


def _nested(value, where: str, depth: int = 0) -> None:
    """Strings, booleans, null and finite numbers, in objects and lists at most 4 levels deep."""
    if depth > 4:
        raise FieldError(f"{where} is nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            _nested(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _nested(v, f"{where}[{i}]", depth + 1)
    elif not isinstance(value, (str, bool)):
        _number(value, where, optional=True)


def _check_metrics(record: dict) -> None:
    if not isinstance(record["metrics"], dict) or not isinstance(record["per_seed"], list):
        raise FieldError("metrics must be an object and per_seed a list")
    for key, value in record["metrics"].items():
        if isinstance(value, list):
            for i, v in enumerate(value):
                _number(v, f"metrics.{key}[{i}]")
        elif isinstance(value, dict):  # a suite's structured extras (e.g. smol's generation settings)
            _nested(value, f"metrics.{key}")
        elif not isinstance(value, (str, bool)):
            _number(value, f"metrics.{key}", optional=True)
    for i, seed in enumerate(record["per_seed"]):
        if not isinstance(seed, dict):
            raise FieldError(f"per_seed[{i}] must be an object")
        for key in ("seed", "win_rate", "reward", "kl", "win_rate_end", "burst_step"):
            if key in seed:
                _number(seed[key], f"per_seed[{i}].{key}", optional=key != "seed")
        if "burst" in seed and not isinstance(seed["burst"], bool):
            raise FieldError(f"per_seed[{i}].burst must be true or false, got {seed['burst']!r:.60}")
        _string(seed.get("burst_kind"), f"per_seed[{i}].burst_kind", optional=True, limit=20)
        for j, point in enumerate(seed.get("trajectory") or ()):
            if not isinstance(point, dict):
                raise FieldError(f"per_seed[{i}].trajectory[{j}] must be an object")
            for key in ("step", "kl", "reward", "win_rate", "fluency"):
                _number(point.get(key), f"per_seed[{i}].trajectory[{j}].{key}", optional=key != "step")
