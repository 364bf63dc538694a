"""`harness suites`: list the registered benchmark suites (size, hardware, expected time, cache)."""

from __future__ import annotations

import json

import click

from harness.commands.options import quiet_option


@click.group("suites", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the descriptions as JSON.")
@quiet_option
@click.pass_context
def command(ctx, as_json, quiet):
    """List the benchmark suites; `harness suites add SPEC` adds your own (docs/own-data.md)."""
    if ctx.invoked_subcommand is not None:
        return
    from tabulate import tabulate

    from harness.suites import SUITES

    suites = [SUITES.get(name) for name in SUITES.names()]
    described = [{**s.describe(), "bench": s.usage_error() or "yes"} for s in suites]
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    rows = [[d["name"], d["size"], d["hardware"], d["expected_time"], "yes" if d["cached"] else "no",
             "yes" if d["bench"] == "yes" else "no: " + d["bench"].split(":")[0][:60], d["description"]]
            for d in described]
    click.echo(tabulate(rows, headers=["suite", "size", "hardware", "expected time", "built", "harness bench",
                                       "description"]))
    if not quiet:
        from harness.executors.container_runner import container_readiness

        click.echo(f"\n{container_readiness()}")


@command.command("add")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
def add_command(spec):
    """Add a suite from your preference data and model (a JSON spec; docs/own-data.md). Everything is
    validated before it is saved; exit 2 names the problem."""
    from harness.suites import add_user_suite
    from harness.text import clean_terminal

    try:
        config, path = add_user_suite(spec)
    except (ValueError, OSError) as e:
        click.echo(f"harness suites add: {clean_terminal(str(e))}", err=True)
        raise SystemExit(2) from None
    click.echo(f"suite {config.name!r} added ({path}); data fingerprint {config.data.fingerprint[:12]}, "
               f"judge {config.judge.kind}\nrun it: harness bench --loss LOSS.py --suite {config.name}")
