"""Option parsing shared by several commands (not a command itself), so that a flag means one thing
everywhere:

- ``--set KEY=VALUE`` overrides (``parse_overrides``);
- ``LOSS``: a loss file, or a built-in loss's name (``--loss dpo``; harness.specs.loss_path);
- ``SEEDS``: a number of training seeds, or ``auto`` (add seeds until the CI is narrow; tiny suites);
- ``quiet_option``: ``--quiet``, no progress output (bars, stage lines); results, warnings and errors
  still print;
- ``--json`` is a flag everywhere: the command's result as JSON on stdout (nothing else on stdout);
  a report file is ``--report FILE``.
"""

from __future__ import annotations

import json

import click

from harness.specs import SpecError, loss_path


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


QUIET_HELP = "No progress output (bars, stage lines); results, warnings and errors still print."


def quiet_option(f):
    return click.option("--quiet", is_flag=True, help=QUIET_HELP)(f)


class LossType(click.ParamType):
    """A loss file, or the name of a built-in loss (``harness losses`` lists them)."""

    name = "LOSS"

    def __init__(self, must_exist: bool = True):
        self.must_exist = must_exist

    def convert(self, value, param, ctx):
        try:
            path = loss_path(value)
        except SpecError as e:
            self.fail(str(e), param, ctx)
        if self.must_exist and not path.is_file():
            self.fail(f"{value!r}: no such loss file (a loss is a .py file, or a built-in's name: `harness losses`)",
                      param, ctx)
        return path


class SeedsType(click.ParamType):
    """A positive number of seeds, or "auto"."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).strip().lower() == "auto":
            return value if isinstance(value, int) else "auto"
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            self.fail(f"{value!r} is neither a positive integer nor 'auto'", param, ctx)
        return int(text)


LOSS = LossType()
SEEDS = SeedsType()
