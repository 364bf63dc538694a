"""`harness losses`: list the built-in losses, or plot their shapes against rho (paper Figure 5).

Exit codes: 0 listed or plotted, 2 usage error (e.g. an unknown loss name).
"""

from __future__ import annotations

import json
import sys

import click

from harness.commands.options import quiet_option

DEFAULT_PLOT = ("dpo", "slic", "discopop", "padll", "cell")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@click.command("losses")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a PNG of loss and derivative against rho instead of the table.")
@click.option("--names", help=f"Comma-separated built-ins to plot. Default: {','.join(DEFAULT_PLOT)}.")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="beta for the plot.")
@click.option("--rho-max", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="The plot spans rho in [-RHO_MAX, RHO_MAX].")
@click.option("--json", "as_json", is_flag=True, help="Print the table as a JSON array.")
@quiet_option
def command(plot_path, names, beta, rho_max, as_json, quiet):  # fmt: skip
    """List the built-in losses (name, kind, inputs, dependence, hyper-parameters, description and source)."""
    from harness.builtin import builtin_losses, table_rows
    from harness.registry import UnknownNameError

    registry = builtin_losses()
    if plot_path:
        from harness.lossplot import plot_losses

        wanted = [n.strip() for n in names.split(",") if n.strip()] if names else list(DEFAULT_PLOT)
        try:
            chosen = [registry.get(name) for name in wanted]
        except UnknownNameError as e:
            click.echo(f"harness losses: {e}", err=True)
            sys.exit(2)
        out = plot_losses(chosen, plot_path, beta=beta, rho_max=rho_max)
        click.echo(f"wrote {out} ({', '.join(wanted)}; beta = {beta:g})")
        return
    if names:
        click.echo("harness losses: --names only applies with --plot", err=True)
        sys.exit(2)
    rows = table_rows(registry)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    table = [(r["name"], r["kind"], r["inputs"], _yes(r["reference_free"]), _yes(r["batch_dependent"]),
              _yes(r["length_dependent"]), _settings(r), f"{r['description']}\n{r['citation']}".strip())
             for r in rows]  # fmt: skip
    click.echo(tabulate(table, headers=("name", "kind", "inputs", "reference-free", "batch-dependent",
                                        "length-dependent", "hyper-parameters", "description, source")))  # fmt: skip


def _settings(row: dict) -> str:
    """Declared hyper-parameters as name=default [low, high]; a combination's weights."""
    parts = [f"{n}={h['default']:g} [{h['range'][0]:g}, {h['range'][1]:g}]" for n, h in row["hyperparameters"].items()]
    parts += [f"{c['weight']:g} x {c['loss_type']}" for c in row["combination"] or ()]
    return "\n".join(parts)
