"""`harness check --loss FILE`: validate a loss file in the sandbox (see harness.checks).

Exit codes: 0 valid, 1 invalid (the report says why), 2 usage error or the sandbox cannot run.
The loss never runs in this process: behaviour checks go through harness.sandbox.open_session.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from harness.commands.options import LOSS, parse_overrides, quiet_option
from harness.hyperparams import split_overrides
from harness.registry import UnknownNameError
from harness.sandbox import BACKENDS
from harness.suites import SUITES
from harness.text import clean_block, clean_terminal

CHECK_BACKENDS = ["auto"] + [name for name in BACKENDS.names() if name != "none"]


@click.command("check")
@click.option("--loss", "loss_path", required=True, type=LOSS,
              help="The loss to check: a loss file (.py) or a built-in's name (`harness losses`).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object instead of the report.")
@click.option("--backend", type=click.Choice(CHECK_BACKENDS), default="auto", show_default=True,
              help="Sandbox backend that runs the loss (auto = the jail).")
@click.option("--suite", default="tiny", show_default=True,
              help="The suite whose beta the check uses by default (see `harness suites`).")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=None,
              help="beta passed to the loss; the diagnostics are quoted at this value [default: the suite's, as "
                   "`harness bench` uses it].")
@click.option("--set", "settings", multiple=True, metavar="loss.NAME=VALUE",
              help="A hyper-parameter the loss file declares, e.g. --set loss.tau=0.1 (repeatable; the others "
                   "take their declared defaults).")
@quiet_option
def command(loss_path, as_json, backend, suite, beta, settings, quiet):  # fmt: skip
    """Check a loss (a file or a built-in's name): structure, behaviour on random and extreme inputs, and
    diagnostics."""
    from harness.checks import CheckConfig, CheckSetupError, check_loss_file, render_report

    suite_keys, hyperparameters = split_overrides(parse_overrides(settings))
    if suite_keys:
        raise click.BadParameter(f"{sorted(suite_keys)[0]!r}: `harness check` takes only loss hyper-parameters "
                                 "(--set loss.NAME=VALUE)", param_hint="--set")
    if beta is None:
        try:
            beta = float(SUITES.get(suite).config.beta)
        except UnknownNameError as e:
            raise click.BadParameter(str(e), param_hint="--suite") from None

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
