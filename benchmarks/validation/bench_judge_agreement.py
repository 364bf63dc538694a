"""How far the shipped LLM judges agree with code-scored gold, and how much order and length sway them.

    PYTHONPATH=. .venv/bin/python benchmarks/validation/bench_judge_agreement.py [--per-direction 40]
        [--equal 30] [--judges pairwise-weighted ...] [--limit pairwise-verdict=8 single-grade=8]
        [--base-url URL --model NAME] [--cache judgments.sqlite]

AlpacaEval's evaluator table, on a labelled set made here. Stages:

1. items: the smol suite's held-out prompts (a task plus one or two verifiable instructions, scored by
   code: harness.judges.ifeval). Per prompt, candidate answers are composed deterministically from
   hand-written sentences (judge_answers.json) with each instruction followed or broken and 1-4
   sentences long; the scorer labels them. One prompt gives at most one pair of each kind:
   ``gold_longer`` / ``gold_shorter`` (the code scorer gives one answer a strictly higher score; the
   better one is the longer / the shorter by at least LENGTH_RATIO in words) and ``equal`` (both follow
   every instruction, lengths differ by LENGTH_RATIO: no gold, only a length preference). Kinds are
   sampled to fixed counts with a fixed seed; which answer is the judge's "output" is a seeded coin.
   Written to benchmarks/results/judge_agreement/items.jsonl.
2. judge: every shipped LLM judge (harness/judges/configs/) through harness.judges.llm.LLMJudge, as a
   suite uses it: pairwise judges see both orders and combine them by MT-Bench's rule (a verdict
   stands only when both orders give it); the single-grade judge grades each answer alone. The
   endpoint is a local llama.cpp server on SmolLM2-135M (tests/llm_server.py, one thread) unless
   ``--base-url`` names another OpenAI-compatible one. A fresh judgment cache per run.
3. metrics per judge, each a share over items with a prompt-clustered percentile bootstrap CI
   (harness.stats.intervals.bootstrap_ci, 95%): agreement with gold (combined verdict: 1 right, 0.5 tie, 0
   wrong); the same split by whether gold is the longer or the shorter answer; the preference for the
   longer answer on ``equal`` items; position bias (pairwise: the share of items whose verdict changes
   with the order). Items with no verdict (unparseable in an order) are counted, not scored.

Writes benchmarks/results/judge_agreement/{items.jsonl,<judge>.json,table.md}.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from itertools import combinations, product
from pathlib import Path

from harness.judges.base import Comparison
from harness.judges.ifeval import parse_instructions, score
from harness.judges.llm import LLMJudge, position_diagnostics
from harness.judges.spec import builtin_judges
from harness.stats.intervals import bootstrap_ci
from harness.suites.smol import SmolConfig
from harness.suites.smol.prompts import make_prompts, split_tasks

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = Path(__file__).with_name("judge_answers.json")
OUT = ROOT / "benchmarks" / "results" / "judge_agreement"
LENGTH_RATIO = 1.5  # "longer" means at least 1.5x the words: a length difference a reader notices
KINDS = ("gold_longer", "gold_shorter", "equal")


# -- 1. items ----------------------------------------------------------------------------------
def candidates(prompt: str, answers: dict) -> list[dict]:
    """Every composed answer to ``prompt``: 1-4 sentences, each togglable instruction followed or not."""
    task = prompt[: prompt.index(".") + 1]
    if task not in answers["tasks"]:
        raise KeyError(f"no answer sentences for task {task!r}: add them to {ANSWERS.name}")
    sentences = answers["tasks"][task]
    args = {i.kind: i.arg for i in parse_instructions(prompt)}
    toggles = [k for k in ("start_word", "keyword", "no_comma") if k in args]
    out = []
    for n, flags in product(range(1, len(sentences) + 1), product((True, False), repeat=len(toggles))):
        on = dict(zip(toggles, flags, strict=True))
        body = list(sentences[:n])
        if on.get("no_comma") is False:  # break "Do not use any commas."
            body[0] = answers["comma_clause"] + body[0][0].lower() + body[0][1:]
        if on.get("keyword"):
            body.append(answers["keywords"][args["keyword"]])
        if on.get("start_word"):
            body.insert(0, answers["openers"][args["start_word"]])
        text = " ".join(body)
        out.append({"text": text, "score": score(prompt, text), "words": len(text.split())})
    return out


def prompt_pairs(prompt: str, answers: dict, rng: random.Random) -> dict[str, tuple[dict, dict]]:
    """At most one (better, worse) pair of each kind for ``prompt``; ``equal`` pairs are (longer, shorter)."""
    found: dict[str, list] = {k: [] for k in KINDS}
    for a, b in combinations(candidates(prompt, answers), 2):
        if a["score"] < b["score"] or (a["score"] == b["score"] and a["words"] < b["words"]):
            a, b = b, a
        long_, short = max(a["words"], b["words"]), min(a["words"], b["words"])
        if long_ < LENGTH_RATIO * short:
            continue
        if a["score"] > b["score"] and a["score"] == 1.0:  # the better one follows every instruction
            found["gold_longer" if a["words"] > b["words"] else "gold_shorter"].append((a, b))
        elif a["score"] == b["score"] == 1.0:
            found["equal"].append((a, b))
    return {k: rng.choice(v) for k, v in found.items() if v}


def build_items(per_direction: int, equal: int, seed: int = 0) -> list[dict]:
    """The labelled set: ``per_direction`` items of each gold kind and ``equal`` no-gold items, drawn
    from the smol suite's held-out prompts with seed ``seed``."""
    answers = json.loads(ANSWERS.read_text())
    d = SmolConfig().data
    _, eval_tasks = split_tasks(d.seed)
    prompts = make_prompts(eval_tasks, d.eval_prompts, seed=d.seed + 2, kinds=d.kinds,
                           max_instructions=d.max_instructions)
    rng = random.Random(seed)
    pool: dict[str, list] = {k: [] for k in KINDS}
    for index, prompt in enumerate(prompts):
        for kind, pair in prompt_pairs(prompt, answers, rng).items():
            pool[kind].append((index, prompt, pair))
    wanted = {"gold_longer": per_direction, "gold_shorter": per_direction, "equal": equal}
    items = []
    for kind in KINDS:
        if len(pool[kind]) < wanted[kind]:
            raise ValueError(f"only {len(pool[kind])} {kind} items can be made, {wanted[kind]} asked")
        for index, prompt, (first, second) in sorted(rng.sample(pool[kind], wanted[kind]), key=lambda t: t[0]):
            swap = rng.random() < 0.5  # which answer the judge calls the policy's output
            out, ref = (second, first) if swap else (first, second)
            gold = "tie" if kind == "equal" else ("reference" if swap else "output")
            items.append({"id": f"{kind}-{index:03d}", "kind": kind, "prompt_id": f"smol-eval-{index:03d}",
                          "prompt": prompt, "output": out["text"], "reference": ref["text"],
                          "scores": [out["score"], ref["score"]], "words": [out["words"], ref["words"]],
                          "gold": gold})
    return items


def first_of_each_kind(items: list[dict], k: int | None) -> list[dict]:
    """The first ``k`` items of each kind (all with ``k`` None): a judge too slow for the whole set."""
    return [i for kind in KINDS for i in [x for x in items if x["kind"] == kind][:k]]


def items_sha256(items: list[dict]) -> str:
    return hashlib.sha256("".join(json.dumps(i, sort_keys=True) + "\n" for i in items).encode()).hexdigest()


# -- 3. metrics --------------------------------------------------------------------------------
def outcome(item: dict, judgment) -> dict | None:
    """One item's verdicts read off a harness judgment; None when it has no verdict."""
    if judgment is None or judgment.details.get("status") != "ok":
        return None
    for_output = judgment.details["discrete"]  # 1 / 0.5 / 0 for the output (MT-Bench's combined verdict)
    longer_is_output = item["words"][0] > item["words"][1]
    row = {"longer": for_output if longer_is_output else 1.0 - for_output}
    if item["gold"] != "tie":
        row["gold"] = for_output if item["gold"] == "output" else 1.0 - for_output
    if "order_disagreement" in judgment.details:
        row["flip"] = float(judgment.details["order_disagreement"])
        row["same_position"] = float(judgment.details["same_position"])
    return row


def _share(rows: list[tuple[dict, dict]], field: str) -> dict | None:
    """Mean of ``field`` over the rows that have it, with a prompt-clustered bootstrap CI."""
    pairs = [(item["prompt_id"], row[field]) for item, row in rows if field in row]
    if not pairs:
        return None
    est = bootstrap_ci([v for _, v in pairs], [g for g, _ in pairs], bounds=(0.0, 1.0), seed=0)
    return {"mean": est.mean, "ci": [est.low, est.high], "n": est.n}


def metrics(items: list[dict], judgments: list) -> dict:
    """Agreement, length and position figures of one judge's ``judgments`` (one per item, in order)."""
    rows = [(item, row) for item, j in zip(items, judgments, strict=True)
            if (row := outcome(item, j)) is not None]
    by_kind = {k: [(i, r) for i, r in rows if i["kind"] == k] for k in KINDS}
    out = {
        "n_items": len(items), "n_judged": len(rows),
        "no_verdict": {k: sum(1 for i in items if i["kind"] == k) - len(by_kind[k]) for k in KINDS},
        "agreement": _share(rows, "gold"),
        "agreement_gold_longer": _share(by_kind["gold_longer"], "gold"),
        "agreement_gold_shorter": _share(by_kind["gold_shorter"], "gold"),
        "longer_preferred_equal": _share(by_kind["equal"], "longer"),
        "position_flip": _share(rows, "flip"),
        "same_position": _share(rows, "same_position"),
    }
    longer, shorter = out["agreement_gold_longer"], out["agreement_gold_shorter"]
    out["length_gap"] = longer["mean"] - shorter["mean"] if longer and shorter else None
    return out


# -- 2. judging --------------------------------------------------------------------------------
def comparisons(items: list[dict]) -> list[Comparison]:
    return [Comparison(i["prompt"], i["output"], i["reference"], group=i["prompt_id"]) for i in items]


def run_judge(name: str, items: list[dict], *, base_url: str, model: str | None, cache: Path) -> dict:
    judge = LLMJudge(name, base_url=base_url, model=model, cache_path=cache)
    start = time.perf_counter()
    run = judge.run(comparisons(items))
    wall = time.perf_counter() - start
    if run.stopped:
        raise RuntimeError(f"judge {name} stopped early: {run.stopped}")
    result = {"judge": {"id": judge.id, "hash": judge.hash, "version": judge.spec.version, "mode": judge.spec.mode,
                        "model": judge.spec.model, "endpoint": judge.endpoint},
              **metrics(items, run.judgments),
              "calls": run.n_calls, "api_calls": run.usage.get("api_calls"), "cached_calls": run.n_cached,
              "unparseable_calls": run.n_unparseable_calls, "logprob_fallbacks": run.n_logprob_fallbacks,
              "usage": run.usage, "wall_s": round(wall, 1)}
    if judge.spec.mode == "pairwise":
        result["position_a_preference"] = position_diagnostics(run.judgments)["position_a_preference"]
    return result


def _start_server(log: Path):
    """The api tier's llama.cpp server on SmolLM2-135M, one thread (tests/llm_server.py)."""
    spec = importlib.util.spec_from_file_location("llm_server", ROOT / "tests" / "llm_server.py")
    module = sys.modules["llm_server"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(module)
    reason = module.skip_reason()
    if reason:
        sys.exit(f"no local judge server: {reason}; or pass --base-url and --model")
    return module.start_llm_server(log_path=log)


# -- report ------------------------------------------------------------------------------------
def _cell(share: dict | None) -> str:
    if share is None:
        return "n/a"
    return f"{share['mean']:.2f} [{share['ci'][0]:.2f}, {share['ci'][1]:.2f}]"


def table(results: list[dict]) -> str:
    head = ("| judge | agreement with gold | gold longer | gold shorter | longer preferred (equal items) "
            "| position flip | judged / items | calls | wall |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        lines.append(f"| {r['judge']['id']} | {_cell(r['agreement'])} | {_cell(r['agreement_gold_longer'])} | "
                     f"{_cell(r['agreement_gold_shorter'])} | {_cell(r['longer_preferred_equal'])} | "
                     f"{_cell(r['position_flip'])} | {r['n_judged']} / {r['n_items']} | {r['calls']} | "
                     f"{r['wall_s']:.0f} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-direction", type=int, default=40, help="items where gold is the longer (and the shorter) answer")
    ap.add_argument("--equal", type=int, default=30, help="items where both answers follow every instruction")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judges", nargs="+", default=builtin_judges())
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint; default: start llama.cpp on SmolLM2-135M")
    ap.add_argument("--model", help="the judge model's name at --base-url (overrides the judge folders' model)")
    ap.add_argument("--limit", nargs="+", default=[], metavar="JUDGE=K",
                    help="judge JUDGE sees only the first K items of each kind (slow generative judges)")
    ap.add_argument("--cache", type=Path, help="judgment cache to keep (raw answers, resuming); default: a fresh one")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if bool(args.base_url) != bool(args.model):
        ap.error("--base-url and --model go together")
    limits = {name: int(k) for name, _, k in (x.partition("=") for x in args.limit)}
    if set(limits) - set(args.judges):
        ap.error(f"--limit names judges not run: {sorted(set(limits) - set(args.judges))}")
    started, load = time.time(), os.getloadavg()
    items = build_items(args.per_direction, args.equal, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    print(f"{len(items)} items ({args.per_direction} gold longer, {args.per_direction} gold shorter, "
          f"{args.equal} equal)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.base_url else _start_server(Path(tmp) / "server.log")
        base_url, model = (args.base_url, args.model) if server is None else (server.base_url, server.model)
        results = []
        try:
            for name in args.judges:
                print(f"judging with {name} at {base_url} ...", file=sys.stderr)
                result = run_judge(name, first_of_each_kind(items, limits.get(name)), base_url=base_url, model=model,
                                   cache=args.cache or Path(tmp) / "judgments.sqlite")
                result.update(items_file="items.jsonl", items_sha256=items_sha256(items), seed=args.seed,
                              first_of_each_kind=limits.get(name),
                              command=" ".join(sys.argv), load_before=[round(x, 2) for x in load])
                (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
                results.append(result)
                print(table([result]).splitlines()[-1], file=sys.stderr)
        finally:
            if server is not None:
                server.stop()
    md = table(results)
    (args.out / "table.md").write_text(md)
    print(md + f"\nload average before {load}, after {tuple(round(x, 2) for x in os.getloadavg())}; "
          f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
