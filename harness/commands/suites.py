"""`harness suites`: list the registered benchmark suites (size, hardware, expected time, cache)."""

from __future__ import annotations

import json

import click


@click.command("suites")
@click.option("--json", "as_json", is_flag=True, help="Print the descriptions as JSON.")
def command(as_json):
    """List the benchmark suites."""
    from tabulate import tabulate

    from harness.suites import SUITES

    described = [SUITES.get(name).describe() for name in SUITES.names()]
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    rows = [[d["name"], d["size"], d["hardware"], d["expected_time"], "yes" if d["cached"] else "no",
             d["description"]] for d in described]
    click.echo(tabulate(rows, headers=["suite", "size", "hardware", "expected time", "built", "description"]))
    from harness.executors.docker import container_readiness

    click.echo(f"\n{container_readiness()}")
