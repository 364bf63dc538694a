"""Type and format checks on every record field a board shows or computes with.

A record that enters a board may have been written by anyone, so each field is checked before it
reaches a renderer: dates are ISO-8601, hashes are lowercase hex of the right length, numbers are
finite (never NaN, infinity, a bool or a string such as "0.5"), names and texts are strings of a
bounded size (harness.records has the caps on the source, the error and the name; the others are
here). A metric's type follows from its name: ``*_ci`` an interval, ``*_seeds`` a count, the few
in STRING_METRICS text and BOOL_METRICS flags, objects (a suite's structured extras) nested at most
4 levels; anything else a finite number or null. Free text (the loss's name,
its error, the source) is allowed any content: the renderers escape it for each sink
(``harness.text``, ``html.escape``); the checks here make sure that what is NOT escaped (dates,
hashes, numbers, file names) cannot carry markup.
"""

from __future__ import annotations

import datetime as _dt
import math
import re

from harness.hyperparams import MAX_HYPERPARAMETERS, NAME

ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
SHA256 = re.compile(r"[0-9a-f]{64}")
CONFIG_HASH = re.compile(r"[0-9a-f]{16}")
MAX_NAME = 200
MAX_TEXT = 2000  # a short text a board shows (a note, a verdict, a version)
MAX_CHECK_ERRORS = 16_000  # summed length of a record's `harness check` errors
STRING_METRICS = ("verdict", "comparisons")
# what a board shows or ranks by: always a number (or null), never an object
NUMERIC_PREFIXES = ("win_rate", "reward", "kl", "vs_reference", "fluency", "mean_length", "distinct_")
BOOL_METRICS = ("censored", "censored_kl1", "beats_reference")


class FieldError(ValueError):
    """A record field has the wrong type or format; the message names the field."""


def _number(value, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(f"{where} must be a finite number, got {value!r:.60}")


def _string(value, where: str, *, optional: bool = False, limit: int | None = None, nonempty: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise FieldError(f"{where} must be a string, got {type(value).__name__}")
    if nonempty and not value:
        raise FieldError(f"{where} must not be empty")
    if limit is not None and len(value) > limit:
        raise FieldError(f"{where} must have at most {limit} characters, has {len(value)}")


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
    if not all(isinstance(x, dict) for x in (loss, suite, record["judge"], record["provenance"])):
        raise FieldError("loss, suite, judge and provenance must be objects")
    _string(loss["name"], "loss.name", limit=MAX_NAME, nonempty=True)
    _string(loss["source"], "loss.source")
    _string(loss.get("path", ""), "loss.path", limit=4096)
    _match(SHA256, loss["sha256"], "loss.sha256", "64 lowercase hex digits")
    _check_hyperparameters(loss.get("hyperparameters"))
    if loss.get("combination") is not None:  # a loss_type list's components (harness.combination): data only
        _nested(loss["combination"], "loss.combination")
    _string(suite["name"], "suite.name", limit=100, nonempty=True)
    _match(CONFIG_HASH, suite["config_hash"], "suite.config_hash", "16 lowercase hex digits")
    if not isinstance(suite["config"], dict):
        raise FieldError("suite.config must be an object")
    _string(record["error"], "error", optional=True)
    _number(record["beta"], "beta")
    if not isinstance(record["seeds"], list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                        for s in record["seeds"]):
        raise FieldError("seeds must be a list of integers")
    _string(record["judge"].get("id", ""), "judge.id", limit=MAX_NAME)
    prov = record["provenance"]
    _string(prov.get("harness_version", ""), "provenance.harness_version", limit=MAX_NAME)
    _string(prov.get("git_revision"), "provenance.git_revision", optional=True, limit=MAX_NAME)
    _check_notes(record)
    _check_metrics(record)


def _check_notes(record: dict) -> None:
    """The check's errors and the verification note: text a board shows, bounded."""
    check = record.get("check")
    if check is not None:
        if not isinstance(check, dict) or not isinstance(check.get("errors", []), list) \
                or not all(isinstance(e, str) for e in check.get("errors", [])):
            raise FieldError("check must be an object whose errors are strings")
        if sum(len(e) for e in check.get("errors", [])) > MAX_CHECK_ERRORS:
            raise FieldError(f"check.errors hold more than {MAX_CHECK_ERRORS} characters")
    note = record.get("verification")
    if note is not None:
        if not isinstance(note, dict):
            raise FieldError("verification must be an object")
        for key, value in note.items():
            _nested(value, f"verification.{key}")
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise FieldError(f"verification.{key} has more than {MAX_TEXT} characters")


def _check_hyperparameters(values) -> None:
    """``loss.hyperparameters``: absent, or {lower_case name: finite number} (shown beside the name and
    part of the entry's identity, so never free text)."""
    if values is None:
        return
    if not isinstance(values, dict) or not 0 < len(values) <= MAX_HYPERPARAMETERS:
        raise FieldError(f"loss.hyperparameters must be an object of 1 to {MAX_HYPERPARAMETERS} values")
    for name, value in values.items():
        _match(NAME, name, "loss.hyperparameters names", "lower_case names")
        _number(value, f"loss.hyperparameters.{name}")


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
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise FieldError(f"{where} has more than {MAX_TEXT} characters")
    elif not isinstance(value, bool):
        _number(value, where, optional=True)


def _metric(key: str, value, where: str) -> None:
    """One metric, typed by its name (see the module doc)."""
    if key.endswith("_ci"):
        if value is not None and not (isinstance(value, list) and len(value) == 2):
            raise FieldError(f"{where} must be an interval [low, high] or null")
        for i, v in enumerate(value or ()):
            _number(v, f"{where}[{i}]")
        if value is not None and value[0] > value[1]:
            raise FieldError(f"{where} has its low end above its high end")
    elif key.endswith("_seeds"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FieldError(f"{where} must be a count (a non-negative integer), got {value!r:.60}")
    elif key in STRING_METRICS:
        _string(value, where, optional=True, limit=MAX_TEXT)
    elif key in BOOL_METRICS or key.startswith("censored_kl"):  # censored_kl<budget> for any second budget
        if not isinstance(value, bool):
            raise FieldError(f"{where} must be true or false, got {value!r:.60}")
    elif isinstance(value, dict) and not key.startswith(NUMERIC_PREFIXES):  # a suite's structured extras
        _nested(value, where)  # (e.g. smol's generation settings)
    else:
        _number(value, where, optional=True)


def _check_metrics(record: dict) -> None:
    if not isinstance(record["metrics"], dict) or not isinstance(record["per_seed"], list):
        raise FieldError("metrics must be an object and per_seed a list")
    for key, value in record["metrics"].items():
        _metric(str(key), value, f"metrics.{key}")
    for i, seed in enumerate(record["per_seed"]):
        if not isinstance(seed, dict):
            raise FieldError(f"per_seed[{i}] must be an object")
        for key in ("seed", "win_rate", "reward", "kl", "win_rate_end", "win_rate_kl1", "reward_kl1", "reward_end",
                    "burst_step"):
            if key in seed:
                _number(seed[key], f"per_seed[{i}].{key}", optional=key != "seed")
        if "seed" in seed and (isinstance(seed["seed"], bool) or not isinstance(seed["seed"], int)):
            raise FieldError(f"per_seed[{i}].seed must be an integer")
        if "burst" in seed and not isinstance(seed["burst"], bool):
            raise FieldError(f"per_seed[{i}].burst must be true or false, got {seed['burst']!r:.60}")
        _string(seed.get("burst_kind"), f"per_seed[{i}].burst_kind", optional=True, limit=20)
        for key in ("status", "status_kl1"):
            _string(seed.get(key), f"per_seed[{i}].{key}", optional=True, limit=100)
        for key in ("win_rate_ci", "win_rate_kl1_ci"):
            if key in seed:
                _metric(key, seed[key], f"per_seed[{i}].{key}")
        trajectory = seed.get("trajectory") or []
        if not isinstance(trajectory, list):
            raise FieldError(f"per_seed[{i}].trajectory must be a list")
        for j, point in enumerate(trajectory):
            if not isinstance(point, dict):
                raise FieldError(f"per_seed[{i}].trajectory[{j}] must be an object")
            for key in ("step", "kl", "reward", "win_rate", "fluency"):
                _number(point.get(key), f"per_seed[{i}].trajectory[{j}].{key}", optional=key != "step")
