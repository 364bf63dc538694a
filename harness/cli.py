"""The thin command-line interface: each subcommand parses arguments, calls one library function,
and returns an exit code (0 ok, 1 the thing checked failed, 2 usage or infrastructure error).

Subcommands live in harness/commands/<name>.py and are imported only when invoked, so that
`harness --help` and light commands start fast (torch is imported by the commands that need it).
"""

from __future__ import annotations

import importlib

import click

from harness.runtime import quiet_openmp
from harness.terminal import quiet_libraries, route_library_warnings

quiet_openmp()  # before any command imports torch: idle OpenMP threads sleep instead of spinning
quiet_libraries()  # before any command imports transformers: no library progress bars or info logs

# name -> (module under harness.commands, one-line help)
COMMANDS = {
    "bench": ("bench", "Train with a loss on a suite, judge, and report win rates with CIs."),
    "check": ("check", "Validate a loss file (structure, behaviour, diagnostics) in the sandbox."),
    "losses": ("losses", "List the built-in losses, or plot their shapes."),
    "suites": ("suites", "List the benchmark suites, or add your own data and model (suites add)."),
    "judge": ("judge", "Judge two answer files with an LLM judge and report win rates."),
    "submit": ("submit", "Benchmark a loss (or verify a record) and add it to a leaderboard."),
    "leaderboard": ("leaderboard", "Show or publish a leaderboard."),
    "runs": ("runs", "Query the local run store."),
    "export": ("export", "Export runs to TensorBoard or MLflow (metrics per checkpoint, the record, the plots)."),
    "show": ("show", "Show a stored run: its summary and its answers per prompt (a searchable page)."),
    "discover": ("discover", "LLM-driven (or evolutionary) discovery of new losses."),
    "compare": ("compare", "Paired difference of two losses (records, board entries or loss files) with its CI."),
    "ci": ("ci", "Regression benchmark: fail when results get worse than a baseline."),
    "reproduce": ("reproduce", "Re-run a record's seeds here and say whether they reproduce it."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"harness.commands.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="harness")
def main():
    """Benchmark harness and leaderboard for preference-optimization (DPO-family) losses.

    Library warnings go to HARNESS_HOME/logs/warnings.log, not into a command's output."""
    route_library_warnings()


if __name__ == "__main__":
    main()
