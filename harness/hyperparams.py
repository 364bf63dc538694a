"""Hyper-parameters a loss file declares: names, defaults and ranges, read from the syntax tree.

A hyper-parameter is a parameter of the loss function that is not in the vocabulary. It has a
literal number as its default and a closed range in the module-level ``HYPERPARAMETERS`` dict:

    HYPERPARAMETERS = {"tau": (0.0, 1.0)}  # name: (low, high), both included

    def loss(policy_chosen_logps, policy_rejected_logps, beta, tau=0.05):
        ...

The default's type decides the kind: an int default makes an integer hyper-parameter. Values are set
with ``--set loss.tau=0.1`` (``harness bench``, ``harness check``), checked against the range on the
trusted side, passed to the loss in every call, recorded in the record's ``loss.hyperparameters``
and part of the entry's identity on a board (``entry_key``): one entry per setting, labelled.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

DECLARATION = "HYPERPARAMETERS"
MAX_HYPERPARAMETERS = 16
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
PREFIX = "loss."  # the --set prefix that names a hyper-parameter


class HyperparameterError(ValueError):
    """A hyper-parameter declaration or value is wrong; the message names it and the fix."""


@dataclass(frozen=True)
class Hyperparameter:
    """One declared hyper-parameter."""

    name: str
    default: float | int
    low: float | int
    high: float | int
    integer: bool  # an int default: values must be whole numbers

    def value(self, raw) -> float | int:
        """``raw`` checked against the kind and range; raises HyperparameterError naming both."""
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise HyperparameterError(f"hyper-parameter {self.name!r} takes a finite number, got {raw!r}")
        if self.integer:
            if float(raw) != int(raw):
                raise HyperparameterError(f"hyper-parameter {self.name!r} is an integer, got {raw!r}")
            raw = int(raw)
        else:
            raw = float(raw)
        if not self.low <= raw <= self.high:
            raise HyperparameterError(f"hyper-parameter {self.name!r} = {raw!r} is outside its declared range "
                                      f"[{self.low}, {self.high}]")
        return raw

    def as_dict(self) -> dict:
        return {"name": self.name, "default": self.default, "range": [self.low, self.high],
                "integer": self.integer}


def _number(node: ast.AST, what: str) -> float | int:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise HyperparameterError(f"{what} must be a literal number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise HyperparameterError(f"{what} must be a finite int or float literal, got {value!r}")
    return value


def _ranges(tree: ast.Module) -> dict[str, tuple]:
    """The module-level ``HYPERPARAMETERS = {name: (low, high)}`` literal, or {}."""
    found = [n for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
             and any(isinstance(t, ast.Name) and t.id == DECLARATION
                     for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
    if not found:
        return {}
    if len(found) > 1:
        raise HyperparameterError(f"{DECLARATION} is assigned {len(found)} times; assign it once")
    node = found[0]
    if not isinstance(node.value, ast.Dict):
        raise HyperparameterError(f"line {node.lineno}: {DECLARATION} must be a dict literal "
                                  "{\"name\": (low, high), ...}")
    out = {}
    for key, value in zip(node.value.keys, node.value.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise HyperparameterError(f"line {node.lineno}: {DECLARATION} keys must be string literals")
        if not (isinstance(value, ast.Tuple | ast.List) and len(value.elts) == 2):
            raise HyperparameterError(f"line {node.lineno}: {DECLARATION}[{key.value!r}] must be a (low, high) pair")
        out[key.value] = tuple(_number(e, f"{DECLARATION}[{key.value!r}] bounds") for e in value.elts)
    return out


def declared(tree: ast.Module, fn: ast.FunctionDef, names: list[str]) -> tuple[Hyperparameter, ...]:
    """The hyper-parameters ``names`` (the function's non-vocabulary parameters, in order) with their
    defaults (from the signature) and ranges (from ``HYPERPARAMETERS``); raises HyperparameterError."""
    ranges = _ranges(tree)
    args = fn.args.args
    defaults = dict(zip([a.arg for a in args[len(args) - len(fn.args.defaults):]], fn.args.defaults, strict=True))
    stray = sorted(set(ranges) - set(names))
    if stray:
        raise HyperparameterError(f"{DECLARATION} names {stray}, which `{fn.name}` does not take as parameters; "
                                  "add them to the signature with a default or remove them")
    if len(names) > MAX_HYPERPARAMETERS:
        raise HyperparameterError(f"`{fn.name}` declares {len(names)} hyper-parameters; at most "
                                  f"{MAX_HYPERPARAMETERS}")
    out = []
    for name in names:
        if not NAME.fullmatch(name):
            raise HyperparameterError(f"hyper-parameter name {name!r} must be lower_case (letters, digits, "
                                      "underscores), at most 64 characters")
        if name not in defaults or name not in ranges:
            raise HyperparameterError(
                f"parameter {name!r} is neither in the vocabulary nor a declared hyper-parameter; a hyper-parameter "
                f"needs a default in the signature ({name}=0.1) and a range in {DECLARATION} = "
                f"{{{name!r}: (low, high)}}")
        default = _number(defaults[name], f"the default of {name!r}")
        low, high = ranges[name]
        integer = isinstance(default, int)
        if integer and not all(float(b).is_integer() for b in (low, high)):
            raise HyperparameterError(f"hyper-parameter {name!r} has an int default, so its range must be whole "
                                      "numbers")
        if not low <= default <= high:
            raise HyperparameterError(f"the default {name}={default!r} is outside its range [{low}, {high}]")
        out.append(Hyperparameter(name, default, low, high, integer))
    return tuple(out)


def resolve(declared_: tuple[Hyperparameter, ...], values: Mapping | None, loss_name: str = "the loss") -> dict:
    """Every declared hyper-parameter's value (defaults filled in, declaration order), ``values``
    checked: unknown names and out-of-range or ill-typed values raise HyperparameterError."""
    values = dict(values or {})
    known = {h.name: h for h in declared_}
    unknown = [k for k in values if k not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        have = ", ".join(known) or "none"
        raise HyperparameterError(f"{loss_name} declares no hyper-parameter {unknown[0]!r} (it declares: {have})."
                                  f"{hint}")
    return {h.name: h.value(values[h.name]) if h.name in values else h.default for h in declared_}


def split_overrides(overrides: Mapping | None) -> tuple[dict, dict]:
    """(suite overrides, hyper-parameter values) from ``--set`` pairs: ``loss.<name>`` keys are the loss's."""
    suite, loss = {}, {}
    for key, value in (overrides or {}).items():
        if key.startswith(PREFIX):
            loss[key[len(PREFIX):]] = value
        else:
            suite[key] = value
    return suite, loss


def settings_key(values: Mapping) -> str:
    """12 hex digits naming a setting (empty for a loss without hyper-parameters)."""
    if not values:
        return ""
    text = json.dumps(dict(values), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def label(values: Mapping) -> str:
    """``tau=0.1, gamma=2``: how a setting is shown beside a loss's name."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def record_values(record: dict) -> dict:
    """The hyper-parameter values of a record (``loss.hyperparameters``; {} for records without)."""
    values = (record.get("loss") or {}).get("hyperparameters") or {}
    return dict(values) if isinstance(values, dict) else {}


def record_overrides(record: dict) -> dict:
    """``{"loss.<name>": value}``: the overrides that re-run a record at its own setting."""
    return {PREFIX + k: v for k, v in record_values(record).items()}


def entry_key(record: dict) -> str:
    """A record's identity on a board: the loss file's sha256, plus its setting when it has one."""
    sha = record["loss"]["sha256"]
    key = settings_key(record_values(record))
    return f"{sha}-{key}" if key else sha


def entry_label(record: dict) -> str:
    """The loss's name, with its setting when it has one: ``wpo [tau=0.1]``."""
    values = record_values(record)
    name = record["loss"]["name"]
    return f"{name} [{label(values)}]" if values else name
