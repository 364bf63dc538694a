"""`harness submit`: benchmark a loss (or verify a record made elsewhere) and add it to a board.

A record made elsewhere is verified by a trusted runner signature (HARNESS_RUNNER_KEY) or by re-running
its seeds here (all of them, or --rerun-sample K drawn here at random; harness.leaderboard.rerun);
otherwise it is added as unverified (listed apart, never ranked). A re-run that contradicts it refuses it.

Exit codes: 0 added (or already there), 1 refused (record does not verify, loss file invalid) or
the run failed (it is listed under failed runs, never ranked), 2 usage or infrastructure error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.bench import BenchUsageError
from harness.commands.options import SEEDS, LossType, parse_overrides, quiet_option
from harness.hyperparams import split_overrides
from harness.leaderboard.submit import (
    SubmitConfig,
    record_suite,
    submit_foreign,
    submit_loss,
    submit_record_file,
)
from harness.leaderboard.verify import VerificationError
from harness.lossfile import LossFileError
from harness.registry import UnknownNameError
from harness.specs import SpecError, run_id
from harness.store import StoreError, record_of
from harness.text import clean_terminal


def _stored_record(spec: str, store_url: str | None) -> dict | None:
    """The record of a stored run id (``--record 3``); None for a record file."""
    if Path(spec).exists() or run_id(spec) is None:
        return None
    return record_of(spec, store_url)[0]


@click.command("submit")
@click.option("--loss", "loss_path", type=LossType(must_exist=False),
              help="Loss to benchmark on the suite (in the sandbox) and add: a file or a built-in's name. An "
                   "identical run already in the run store (same file, suite config and seeds, made here) is reused.")
@click.option("--record", "record_path",
              help="Result record to verify and add: a record file (JSON from `harness bench`) or a run id.")
@click.option("--suite", help="Board / suite name. Default: tiny for --loss, the record's suite for --record.")
@click.option("--seeds", type=SEEDS, default=3, show_default=True,
              help="Training seeds (--loss): 2 or more (a board pairs entries on 2+ shared seeds), or auto.")
@click.option("--board-dir", "board_root", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding one board folder per suite. Default: HARNESS_HOME/boards (a scratch board); "
                   "the repository's committed boards are in leaderboards/.")
@click.option("--backend", default="auto", show_default=True, help="Sandbox backend for the loss file (--loss).")
@click.option("--store", "store_url", help="Run store SQLAlchemy URL. Default: runs.sqlite under HARNESS_HOME.")
@click.option("--rerun/--no-rerun", default=True, show_default=True,
              help="--record without a trusted signature: re-run its seeds here, compared prompt by prompt; with "
                   "--no-rerun it is added as unverified (listed apart, not ranked).")
@click.option("--rerun-sample", type=click.IntRange(min=1),
              help="Re-run only K of the record's seeds, drawn here at random after submission (default: all). "
                   "A record with one fabricated seed of N then passes with probability (N-K)/N.")
@click.option("--tolerance", type=click.FloatRange(min=0),
              help="Largest difference, per prompt (mean) and per seed win rate, still counted as reproduced "
                   "(default: 0 when the record names this machine's CPU model and instruction set, else "
                   "0.001, harness.reproduce.default_tolerance).")
@quiet_option
@click.option("--set", "settings", multiple=True, metavar="loss.NAME=VALUE",
              help="--loss: a hyper-parameter the loss file declares, e.g. --set loss.tau=0.1 (repeatable); each "
                   "setting is its own board entry.")
def command(loss_path, record_path, suite, seeds, board_root, backend, store_url, rerun, rerun_sample, tolerance,
            quiet, settings):
    """Add a loss to a leaderboard: idempotent per loss file + suite config; failed runs are never ranked."""
    if (loss_path is None) == (record_path is None):
        raise click.UsageError("give exactly one of --loss FILE or --record run.json")
    other, hyperparameters = split_overrides(parse_overrides(settings))
    if other or (hyperparameters and record_path is not None):
        raise click.BadParameter("takes only loss.NAME=VALUE, with --loss (a record carries its own setting)",
                                 param_hint="--set")
    try:
        stored = _stored_record(record_path, store_url) if record_path is not None else None
        if record_path is not None:
            suite = suite or (stored["suite"]["name"] if stored else record_suite(record_path))
        cfg = SubmitConfig(suite=suite or "tiny", board_root=board_root, seeds=seeds, backend=backend,
                           progress=not quiet, store_url=store_url, rerun=rerun, rerun_sample=rerun_sample,
                           tolerance=tolerance, hyperparameters=hyperparameters or None)
        if loss_path is not None:
            outcome = submit_loss(loss_path, cfg)
        else:
            outcome = submit_foreign(stored, cfg) if stored else submit_record_file(record_path, cfg)
    except (VerificationError, LossFileError) as e:
        click.echo(f"harness submit: refused: {clean_terminal(e)}", err=True)
        sys.exit(1)
    except (UnknownNameError, StoreError, BenchUsageError, SpecError, ValueError) as e:
        click.echo(f"harness submit: {clean_terminal(e)}", err=True)
        sys.exit(2)
    click.echo(f"{clean_terminal(outcome.message)}\n  record: {clean_terminal(outcome.path)}")
    if board_root is None and not quiet:
        click.echo(f"  board: {clean_terminal(cfg.board_dir)} (`harness leaderboard --suite {clean_terminal(cfg.suite)} "
                   f"--board-dir {clean_terminal(cfg.board_dir.parent)}` shows it)")
    sys.exit(1 if outcome.action == "failed_recorded" else 0)
