"""`harness check --loss FILE`: validate a loss file in the sandbox (see harness.checks).

Exit codes: 0 valid, 1 invalid (the report says why), 2 usage error or the sandbox cannot run.
The loss never runs in this process: behaviour checks go through harness.sandbox.open_session.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from harness.commands.options import parse_overrides
from harness.hyperparams import split_overrides
from harness.sandbox import BACKENDS
from harness.text import clean_block, clean_terminal

CHECK_BACKENDS = ["auto"] + [name for name in BACKENDS.names() if name != "none"]


@click.command("check")
@click.option("--loss", "loss_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The loss file (.py) to check.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object instead of the report.")
@click.option("--backend", type=click.Choice(CHECK_BACKENDS), default="auto", show_default=True,
              help="Sandbox backend that runs the loss (auto = the jail).")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="beta passed to the loss; the diagnostics are quoted at this value.")
@click.option("--set", "settings", multiple=True, metavar="loss.NAME=VALUE",
              help="A hyper-parameter the loss file declares, e.g. --set loss.tau=0.1 (repeatable; the others "
                   "take their declared defaults).")
def command(loss_path, as_json, backend, beta, settings):  # fmt: skip
    """Check a loss file: structure, behaviour on random and extreme inputs, and diagnostics."""
    from harness.checks import CheckConfig, CheckSetupError, check_loss_file, render_report
    suite_keys, hyperparameters = split_overrides(parse_overrides(settings))
    if suite_keys:
        raise click.BadParameter(f"{sorted(suite_keys)[0]!r}: `harness check` takes only loss hyper-parameters "
                                 "(--set loss.NAME=VALUE)", param_hint="--set")
    try:
        report = check_loss_file(loss_path, backend=backend, config=CheckConfig(beta=beta),
                                 hyperparameters=hyperparameters)
    except CheckSetupError as e:
        click.echo(f"harness check: cannot run the check: {clean_terminal(e)}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, allow_nan=False))  # as_dict maps non-finite to null
    else:
        click.echo(render_report(inert(report)))
    sys.exit(0 if report.valid else 1)


def inert(report):
    """The report with its loss-made text (errors, warnings, the file's name) safe for a terminal.

    JSON output needs no such step: ``json.dumps`` escapes every control character.
    """
    return dataclasses.replace(report, path=clean_terminal(report.path), name=clean_terminal(report.name),
                               errors=[clean_block(e, "         | ") for e in report.errors],
                               warnings=[clean_block(w, "           | ") for w in report.warnings])
