"""Option parsing shared by several commands (not a command itself): ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

import json

import click


def parse_overrides(items: tuple[str, ...], param_hint: str = "--set") -> dict:
    """``("train.learning_rate=1e-4", ...)`` as ``{"train.learning_rate": 1e-4}``: each value is read as
    JSON when it parses (numbers, booleans, lists), else kept as text. Raises click.BadParameter for an
    item without ``=``."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. train.learning_rate=1e-4 or loss.tau=0.1)",
                                     param_hint=param_hint)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out
