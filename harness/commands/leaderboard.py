"""`harness leaderboard`: show a board (table, md, csv, html, json) or rewrite its generated files.

Exit codes: 0 shown, 1 the board is shown but holds files that fail the checks on load (listed as
rejected, with the reason) or the folder itself is unsafe (a path out of it, a link), 2 usage error or
no board.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.commands.options import quiet_option
from harness.leaderboard.board import BoardError
from harness.leaderboard.publish import open_board, seal_board
from harness.leaderboard.render_csv import render_csv
from harness.leaderboard.render_html import render_html
from harness.leaderboard.render_json import render_json
from harness.leaderboard.render_md import render_readme, render_table
from harness.leaderboard.submit import default_board_root
from harness.leaderboard.verify import current_suite_hash
from harness.registry import UnknownNameError

RENDERERS = {"table": render_table, "md": render_readme, "csv": render_csv, "html": render_html, "json": render_json}


@click.command("leaderboard")
@click.option("--suite", default="tiny", show_default=True, help="Which suite's board.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="table", show_default=True,
              help="json: an object with entries (ranked, each with rank_interval), apart, separability and pairs.")
@click.option("--board-dir", "board_root", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding one board folder per suite. Default: the repository's leaderboards/.")
@click.option("--write", is_flag=True,
              help="Also regenerate the board's leaderboard.csv, README.md and index.html from its records.")
@click.option("--seal", is_flag=True,
              help="Vouch for this board's records that say verified but carry no seal of your board key (e.g. "
                   "the repository's own boards, after reviewing its history): seal them with your key, then "
                   "regenerate the board. Only records that pass every check on load are sealed.")
@quiet_option
def command(suite, fmt, board_root, write, seal, quiet):
    """Show a leaderboard ranked by win rate, with 95% CIs and uncertainty-aware ranks."""
    board_dir = (board_root or default_board_root()) / suite
    try:
        if seal:
            board, sealed = seal_board(board_dir, suite=suite, expected_hash=current_suite_hash(suite))
            click.echo(f"sealed {len(sealed)} record(s) of {board_dir} with your board key", err=True)
        else:
            board = open_board(board_dir, suite=suite, expected_hash=current_suite_hash(suite), regenerate=write)
    except (UnknownNameError, FileNotFoundError) as e:
        click.echo(f"harness leaderboard: {e}", err=True)
        sys.exit(2)
    except BoardError as e:
        click.echo(f"harness leaderboard: board {board_dir} does not verify: {e}", err=True)
        sys.exit(1)
    click.echo(RENDERERS[fmt](board), nl=False)
    if (write or seal) and not quiet:
        click.echo(f"wrote {board_dir}/leaderboard.csv, README.md, index.html", err=True)
    if board.rejected:
        click.echo(f"harness leaderboard: {len(board.rejected)} file(s) of {board_dir} fail the checks on load and "
                   "were left out (listed as rejected, with the reason)", err=True)
        sys.exit(1)
