"""`harness discover`: search for new losses (LLM-driven, evolutionary or random), resumable and
parallel; when the search ends, the top candidates are re-benched on fresh seeds against DPO (the
winner's-curse correction) and, with --transfer-suite, benched on a held-out suite.

Exit codes: 0 the search ran and found at least one valid loss, 1 it ran but no candidate passed,
2 usage or infrastructure error (wrong --resume, unknown proposer, the proposer failed, evaluations
kept failing in the harness rather than in the candidate).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.commands.options import container_options, parse_overrides, quiet_option
from harness.executors import executor_names
from harness.paths import runs_dir


@click.command("discover")
@click.option("--suite", default="tiny", show_default=True, help="Benchmark suite; fitness is its win rate.")
@click.option("--proposer", default="evolve", show_default=True,
              help="Registered proposer: evolve (offline expression search), random (the control at equal "
                   "budget) or llm (OpenAI-compatible endpoint).")
@click.option("--budget", type=click.IntRange(min=1), default=20, show_default=True,
              help="Maximum number of candidates (near-duplicates are not counted, failures are).")
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="Evaluations running at once (worker processes or Ray tasks).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder. Default: HARNESS_HOME/runs/discover-<proposer>-<suite>.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (after a stop or a kill).")
@click.option("--executor", type=click.Choice(executor_names("discover")), default="local", show_default=True,
              help="local worker processes, Ray tasks, or one hardened container per candidate (docker).")
@click.option("--in-container", is_flag=True,
              help="--executor ray: each Ray task runs its candidate in a job container on its node.")
@click.option("--ray-address", help="Ray cluster to join (host:port or auto). Default: start a local Ray.")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs reserved per evaluation task on a Ray cluster.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Training seeds per candidate (fewer than a leaderboard run; records say how many).")
@click.option("--beta", type=float, help="KL strength for training. Default: the suite's.")
@click.option("--backend", default="auto", show_default=True, help="Sandbox backend for check and bench.")
@click.option("--max-wall", type=click.FloatRange(min=0, min_open=True), help="Stop proposing after SECONDS.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop proposing once the API cost reaches USD. "
              "Needs the proposer model's prices: known OpenAI models at OpenAI's endpoint, else --price-in/--price-out.")
@click.option("--price-in", type=click.FloatRange(min=0), help="Dollars per million prompt tokens of --model "
              "(default: its list price at OpenAI's endpoint, harness/prices.py; 0 for a free local server).")
@click.option("--price-out", type=click.FloatRange(min=0), help="Dollars per million completion tokens of --model.")
@click.option("--base-url", help="OpenAI-compatible endpoint for --proposer llm (else OPENAI_BASE_URL).")
@click.option("--model", default="gpt-4o", show_default=True, help="Model name for --proposer llm.")
@click.option("--temperature", type=click.FloatRange(0, 2), default=1.0, show_default=True)
@click.option("--structured-output", type=click.Choice(["auto", "json_schema", "json_object", "none"]),
              default="auto", show_default=True, help="Ask the endpoint for JSON-schema constrained replies.")
@click.option("--templates", "templates_dir", type=click.Path(file_okay=False, exists=True),
              help="Folder of prompt templates overriding harness/discovery/templates/*.txt.")
@click.option("--behavioural-dedupe", is_flag=True,
              help="Do not bench a candidate that behaves like an evaluated one on the check's probe inputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Proposer randomness.")
@click.option("--evaluator", default="bench", show_default=True,
              help="bench, cascade (a short screen first), or fake (test double).")
@click.option("--cascade", is_flag=True, help="Same as --evaluator cascade: stop clearly hopeless candidates "
              "after a short run (a quarter of the training steps) before the full bench.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Suite config override for every bench of the run (repeatable), as in harness bench.")
@click.option("--candidate-timeout", type=click.FloatRange(min=0, min_open=True), default=7200.0,
              show_default=True, help="Wall-clock deadline of one candidate's evaluation, in seconds: past it the "
                                      "candidate is timeout (with its record).")
@click.option("--finalize", "finalize_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Do not search: re-evaluate (once) and transfer-check the stopped run in DIR.")
@click.option("--top-k", type=click.IntRange(min=0), default=5, show_default=True,
              help="Candidates re-benched on fresh seeds when the search ends (0: no re-evaluation).")
@click.option("--reeval-seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Fresh seeds (disjoint from the search seeds) for the re-evaluation, DPO included.")
@click.option("--transfer-suite", help="Held-out suite on which the re-evaluated best are benched against DPO.")
@click.option("--transfer-top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Re-evaluated candidates benched on the held-out suite.")
@click.option("--transfer-seeds", type=click.IntRange(min=1), help="Seeds on the held-out suite (default: its own).")
@click.option("--transfer-set", multiple=True, metavar="KEY=VALUE", help="Override for the held-out suite.")
@quiet_option
@container_options
def command(suite, proposer, budget, parallel, out_dir, resume, executor, in_container, ray_address, ray_gpus, seeds,
            beta, backend, max_wall, max_cost, price_in, price_out, base_url, model, temperature, structured_output,
            templates_dir, behavioural_dedupe, seed, evaluator, cascade, overrides, candidate_timeout, finalize_dir,
            top_k, reeval_seeds, transfer_suite, transfer_top, transfer_seeds, transfer_set, quiet, containers):
    """Search for new losses: propose, check, bench (in the sandbox), archive; resumable after kill -9;
    then re-bench the top candidates on fresh seeds against DPO (and on a held-out suite)."""
    from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings, LLMSettings
    from harness.discovery.loop import DiscoveryError, run_discovery
    from harness.executors.container_runner import DockerUnavailable
    from harness.registry import UnknownNameError

    final = dict(top_k=top_k, reeval_seeds=reeval_seeds, transfer_suite=transfer_suite, transfer_top=transfer_top,
                 transfer_seeds=transfer_seeds, transfer_overrides=parse_overrides(transfer_set))
    if finalize_dir is not None:
        return _finalize_only(finalize_dir, final)
    if resume and out_dir is None:
        raise click.UsageError("--resume needs --out DIR (the folder of the run to continue)")
    out_dir = out_dir or runs_dir() / f"discover-{proposer}-{suite}"
    evaluator = "cascade" if cascade else evaluator
    try:
        config = DiscoveryConfig(
            out_dir=str(out_dir), proposer=proposer, budget=budget, parallel=parallel, executor=executor,
            ray_address=ray_address, ray_num_gpus=ray_gpus, in_container=in_container, containers=containers,
            max_wall_s=max_wall, max_cost=max_cost, seed=seed,
            progress=not quiet,
            eval=EvalSettings(suite=suite, seeds=seeds, beta=beta, backend=backend, evaluator=evaluator,
                              behavioural_dedupe=behavioural_dedupe, overrides=parse_overrides(overrides),
                              candidate_timeout_s=candidate_timeout),
            llm=LLMSettings(base_url=base_url, model=model, temperature=temperature,
                            structured_output=structured_output, templates_dir=templates_dir,
                            price_in_per_mtok=price_in, price_out_per_mtok=price_out),
            finalize=FinalizeSettings(**final))
        result = run_discovery(config, resume=resume)
    except (ValueError, DiscoveryError, UnknownNameError, DockerUnavailable) as e:
        click.echo(f"harness discover: {e}", err=True)
        sys.exit(2)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.status_counts.items()))
    best = "none" if result.best_id is None else f"#{result.best_id} fitness {result.best_fitness:.4f}"
    reeval = "not run" if result.reeval_best_id is None else f"#{result.reeval_best_id} (see report.md)"
    click.echo(f"stopped: {result.stop_reason}\ncandidates: {result.candidates} ({counts})\nbest: {best} "
               f"(search fitness)\nbest after re-evaluation on fresh seeds: {reeval}\noutputs: {result.out_dir} "
               "(report.md, report.json, fitness.png, best_loss.py, candidates.jsonl, archive.sqlite)")
    if result.proposer_failed or result.harness_failed:
        sys.exit(2)
    sys.exit(0 if result.best_id is not None else 1)


def _finalize_only(out_dir: Path, final: dict) -> None:
    from harness.bench import BenchUsageError
    from harness.discovery.loop import DiscoveryError, finalize_run
    from harness.registry import UnknownNameError

    try:
        # the re-evaluation settings of a run already finalized are kept (it is done once)
        archive = finalize_run(out_dir, **final)
    except (ValueError, DiscoveryError, UnknownNameError, BenchUsageError) as e:
        click.echo(f"harness discover --finalize: {e}", err=True)
        sys.exit(2)
    state = archive.get_run("finalize") or {}
    summary = state.get("summary") or {}
    archive.close()
    click.echo(f"finalized: best after re-evaluation on seeds {state.get('fresh_seeds')}: #{summary.get('best')} "
               f"(search best #{summary.get('search_best')})\noutputs: {out_dir} (report.md, report.json, fitness.png)")
    sys.exit(0 if summary.get("best") is not None else 1)
