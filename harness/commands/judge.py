"""`harness judge`: judge two answer files with an LLM judge and report win rates.

Exit codes: 0 the run finished (unparseable, refused and missing comparisons are counted in the
report, and its ``warnings`` say what to doubt),
1 no comparison gave a usable verdict (every judge answer unparseable), 2 usage or infrastructure error (bad files, bad key/URL/model, endpoint down, budget spent; for the
last two the partial report is still printed and a re-run resumes from the judgment cache).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tabulate import tabulate

from harness.commands.options import quiet_option
from harness.formats.read import FORMATS
from harness.judges.spec import builtin_judges


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _ci(ci) -> str:
    return "" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _table(r: dict) -> str:
    sem = "n/a" if r["win_rate_sem"] is None else _pct(r["win_rate_sem"])
    rows = [
        ("win rate %", _pct(r["win_rate"]),
         f"95% CI {_ci(r['win_rate_ci']) or 'n/a'}, SEM {sem} (over {r.get('n_prompts', 0)} prompts)"),
        ("LC win rate %", _pct(r["lc_win_rate"]), f"95% CI {_ci(r['lc_win_rate_ci'])} (length-controlled GLM)"),
        ("discrete win rate %", _pct(r["discrete_win_rate"]), f"{r['n_wins']} wins, {r['n_ties']} ties, {r['n_losses']} losses"),
        ("judged", f"{r['n_judged']} / {r['n_total']}",
         f"{r['n_unparseable']} unparseable, {r['n_not_judged']} not judged"
         + (f", {r['n_graded_only']} graded alone (no reference)" if r.get("n_graded_only") else "")),
        ("coverage", f"{r['n_total']} / {r.get('n_references', r['n_total'])}",
         f"{r.get('n_missing_outputs', 0)} references without output, {r.get('n_duplicate_prompts', 0)} repeated outputs"),
        ("avg length (chars)", f"{r['avg_length_output'] or 0:.0f}", f"reference {r['avg_length_reference'] or 0:.0f}"),
    ]
    if r.get("mean_grade") is not None:
        rows.append(("mean grade (1-10)", f"{r['mean_grade']:.2f}", f"{r['n_graded']} answers graded"))
    if r["mode"] == "pairwise":
        rows.append(("position bias %", _pct(r.get("position_bias_rate")),
                     f"{r.get('n_order_disagreements', 0)} order disagreements in {r.get('n_both_orders', 0)}"))
    cost = "cost unknown (no prices for this model)" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}"
    if r["n_logprob_fallbacks"]:
        rows.append(("log-prob fallbacks", str(r["n_logprob_fallbacks"]), "calls read from the text (hard verdicts)"))
    estimated = r.get("estimated_token_calls", 0)
    tokens = f"{r['prompt_tokens'] + r['completion_tokens']} tokens" + (
        f" (estimated for {estimated} replies without usage)" if estimated else "")
    rows.append(("api calls", str(r["api_calls"]),
                 f"{r['n_cached']} / {r['n_calls']} judge calls cached, {r['retries']} retries, {tokens}, {cost}"))
    head = f"judge {r['judge']} v{r['judge_version']} ({r['judge_hash']}), model {r['model']} at {r['endpoint']}"
    warnings = "".join(f"\nwarning: {w}" for w in r["warnings"])
    return head + "\n" + tabulate(rows, headers=("metric", "value", ""), disable_numparse=True) + warnings


@click.command("judge")
@click.option("--outputs", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The answers to judge: our JSON lines (prompt, output), AlpacaEval model_outputs.json, or an "
                   "MT-Bench / Arena-Hard answer file (format detected; see docs/formats.md).")
@click.option("--references", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The reference answers to the same prompts, in any of those formats.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The question file of MT-Bench or Arena-Hard answer files (question.jsonl): their prompts.")
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Read both answer files in this format instead of detecting it.")
@click.option("--judge", "judge_name", default="pairwise-weighted", show_default=True,
              help=f"A built-in judge ({', '.join(builtin_judges())}) or the path of a judge folder.")
@click.option("--base-url", help="OpenAI-compatible endpoint. Default: the judge's base_url setting, else "
              "OPENAI_BASE_URL, else OpenAI.")
@click.option("--model", help="Judge model (overrides the judge's settings; changes the judge hash).")
@click.option("--api-key-env", help="NAME of the environment variable holding the API key (never the key "
              "itself). Default: the judge's setting, OPENAI_API_KEY unless it names another.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Judgment cache (SQLite). Default: judgments.sqlite under HARNESS_HOME.")
@click.option("--budget-usd", type=click.FloatRange(min=0, min_open=True), help="Stop sending once this is spent.")
@click.option("--budget-tokens", type=click.IntRange(min=1), help="Stop sending once this many tokens are used.")
@click.option("--price-input-per-mtok", type=click.FloatRange(min=0), help="Dollars per million prompt tokens "
              "(default: the judge's setting, which is for the judge's own model).")
@click.option("--price-output-per-mtok", type=click.FloatRange(min=0), help="Dollars per million completion tokens.")
@click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True,
              help="Retries per call on 429 / 5xx / timeouts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--annotations", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one JSON line per comparison (preference, both orders, raw verdict sources).")
@click.option("--html", "view", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the answers page: each output beside its reference with the verdict and the judge's "
                   "reasoning, searchable (docs/viewer.md).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
@quiet_option
def command(outputs, references, questions, fmt, judge_name, base_url, model, api_key_env, cache_path, budget_usd,
            budget_tokens, price_input_per_mtok, price_output_per_mtok, max_retries, seed, annotations, view, as_json,
            quiet):
    """Judge OUTPUTS against REFERENCES (win rates in %, with bootstrap 95% CIs)."""
    from harness.judges.answers import AnswerFileError, judge_answer_files
    from harness.judges.llm import LLMJudge
    from harness.llm_client import LLMConfigError

    if (price_input_per_mtok is None) != (price_output_per_mtok is None):
        click.echo("harness judge: give both --price-input-per-mtok and --price-output-per-mtok, or neither", err=True)
        sys.exit(2)
    prices = None if price_input_per_mtok is None else (price_input_per_mtok, price_output_per_mtok)
    try:
        judge = LLMJudge(judge_name, base_url=base_url, model=model, cache_path=cache_path, budget_usd=budget_usd,
                         budget_tokens=budget_tokens, max_retries=max_retries, api_key_env=api_key_env,
                         prices=prices)
        report = judge_answer_files(outputs, references, judge, seed=seed, annotations=annotations,
                                    formats=(fmt, fmt), questions=questions, view=view)
    except (AnswerFileError, FileNotFoundError, ValueError, LLMConfigError) as exc:
        click.echo(f"harness judge: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(report, sort_keys=True) if as_json else _table(report))
    if report["stopped"]:
        click.echo(f"harness judge: stopped early ({report['stopped']}); {report['n_not_judged']} comparisons "
                   "not judged. Re-run the same command to resume: judged calls are cached.", err=True)
        sys.exit(2)
    if report["n_judged"] == 0:
        click.echo(f"harness judge: no usable verdict: {report['n_unparseable']} comparisons unparseable "
                   f"({report['n_unparseable_calls']} judge answers, {report['n_conflicting_calls']} with conflicting "
                   f"labels), {report['n_not_judged']} not judged; check the judge's parser and the model's output "
                   "(raw answers are in the cache)", err=True)
        sys.exit(1)
