"""Data loading and formatting of the paper's data sets, one formatter per schema.

Chat models get their prompts ONLY through the tokenizer's own chat template (a wrong template cost
1.2 MT-Bench points in a reproduction of the DiscoPOP paper). A pair's completions are cut from the
templated full conversation after the templated prompt, so they end with exactly the end-of-turn
markers the model emits; a template for which the prompt is not a prefix of the conversation is
refused. The TL;DR prompt CONTAINS the post: the paper's official code trained on prompts without
it (a known defect), which this formatter refuses to reproduce.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

from harness.registry import Registry

TLDR_INSTRUCTION = "Summarize the following Reddit post in a few sentences."


class FormatError(ValueError):
    """A row does not fit its schema, or the template cannot form a pair; the message names it."""


def load_split(hub_id: str, split: str, config: str | None = None, *, local: Path | None = None):
    """A ``datasets`` split from the hub (GPU hosts), or from a local JSON-lines file in the same schema."""
    from datasets import load_dataset

    if local is not None:
        return load_dataset("json", data_files={split.split("[")[0]: str(local)}, split=split)
    return load_dataset(hub_id, config, split=split)


def prompt_id(text: str) -> str:
    """An evaluation prompt's id when its data set has none: a hash of the WHOLE text, so two prompts
    share an id only if they are the same prompt (a prefix, such as the first 64 characters, is not
    unique: two AlpacaEval instructions may open alike)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _template(tokenizer, messages: list[dict], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def chat_pair(tokenizer, prompt_messages: list[dict], chosen: str, rejected: str) -> dict:
    """Prompt text and the two completions, cut from the templated conversations."""
    prompt = _template(tokenizer, prompt_messages, generation_prompt=True)
    out = {"prompt": prompt}
    for side, answer in (("chosen", chosen), ("rejected", rejected)):
        full = _template(tokenizer, prompt_messages + [{"role": "assistant", "content": answer}],
                         generation_prompt=False)
        if not full.startswith(prompt):
            raise FormatError("the chat template does not render the prompt as a prefix of the conversation; "
                              f"cannot cut the completion (prompt ends {prompt[-40:]!r}, conversation "
                              f"{full[:len(prompt)][-40:]!r})")
        out[side] = full[len(prompt):]
    return out


# schema -> formatter(row, tokenizer) -> {"prompt", "chosen", "rejected"} (text)
PAIR_FORMATS: Registry = Registry("pair schema")
# schema -> formatter(row, tokenizer) -> {"id", "prompt", "reference", ...}
EVAL_FORMATS: Registry = Registry("eval schema")


def _pair(name: str) -> Callable:
    return PAIR_FORMATS.register(name)


def _eval(name: str) -> Callable:
    return EVAL_FORMATS.register(name)


@_pair("messages")
def messages_pair(row: dict, tokenizer) -> dict:
    """argilla/dpo-mix-7k: ``chosen`` / ``rejected`` are message lists sharing every turn but the last."""
    chosen, rejected = row["chosen"], row["rejected"]
    if not chosen or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise FormatError("a messages pair must end with an assistant turn on both sides")
    if chosen[:-1] != rejected[:-1]:
        raise FormatError("chosen and rejected conversations differ before the last turn")
    return chat_pair(tokenizer, chosen[:-1], chosen[-1]["content"], rejected[-1]["content"])


def _tldr_post(prompt: str) -> str:
    post = prompt.strip()
    if post.endswith("TL;DR:"):
        post = post[: -len("TL;DR:")].rstrip()
    if "POST:" not in post or not post.split("POST:", 1)[1].strip():
        raise FormatError(f"TL;DR row without a post (the paper's defect; refusing): {prompt[:80]!r}")
    return post


def _strip_tldr(summary: str) -> str:
    s = summary.strip()
    return s[len("TL;DR:"):].strip() if s.startswith("TL;DR:") else s


def tldr_messages(post: str) -> list[dict]:
    return [{"role": "user", "content": f"{TLDR_INSTRUCTION}\n\n{post}"}]


@_pair("tldr")
def tldr_pair(row: dict, tokenizer) -> dict:
    """CarperAI/openai_summarize_comparisons: ``prompt`` (SUBREDDIT/TITLE/POST ... TL;DR:), summaries."""
    post = _tldr_post(row["prompt"])
    return chat_pair(tokenizer, tldr_messages(post), _strip_tldr(row["chosen"]), _strip_tldr(row["rejected"]))


@_pair("imdb_preference")
def imdb_pair(row: dict, tokenizer) -> dict:
    """ZHZisZZ/imdb_preference: a review opening, two continuations, ``chosen`` = index of the preferred."""
    responses, k = row["responses"], int(row["chosen"])
    if len(responses) != 2 or k not in (0, 1):
        raise FormatError(f"imdb_preference row needs 2 responses and chosen in {{0, 1}}, got {len(responses)}, {k}")
    return {"prompt": row["prompt"], "chosen": responses[k], "rejected": responses[1 - k]}


@_eval("mt_bench")
def mt_bench_eval(row: dict, tokenizer) -> dict:
    """HuggingFaceH4/mt_bench_prompts: two user turns; the second is asked after the model's first answer."""
    turns = list(row["prompt"])
    if len(turns) != 2:
        raise FormatError(f"MT-Bench question {row.get('prompt_id')} has {len(turns)} turns, expected 2")
    return {"id": str(row["prompt_id"]), "category": row["category"], "turns": turns,
            "prompt": _template(tokenizer, [{"role": "user", "content": turns[0]}], generation_prompt=True),
            "reference": list(row.get("reference") or [])}


def mt_bench_second_turn(tokenizer, turns: list[str], first_answer: str) -> str:
    messages = [{"role": "user", "content": turns[0]}, {"role": "assistant", "content": first_answer},
                {"role": "user", "content": turns[1]}]
    return _template(tokenizer, messages, generation_prompt=True)


@_eval("alpaca_eval")
def alpaca_eval_eval(row: dict, tokenizer) -> dict:
    """tatsu-lab/alpaca_eval (alpaca_eval_gpt4_baseline): instruction + the GPT-4 Turbo reference output."""
    return {"id": prompt_id(row["instruction"]), "instruction": row["instruction"],
            "prompt": _template(tokenizer, [{"role": "user", "content": row["instruction"]}], generation_prompt=True),
            "reference": row["output"], "reference_generator": row.get("generator")}


@_eval("tldr")
def tldr_eval(row: dict, tokenizer) -> dict:
    post = _tldr_post(row["prompt"])
    return {"id": prompt_id(post), "post": post,
            "prompt": _template(tokenizer, tldr_messages(post), generation_prompt=True),
            "reference": _strip_tldr(row["chosen"])}


@_eval("imdb_prompts")
def imdb_eval(row: dict, tokenizer) -> dict:
    return {"id": prompt_id(row["prompt"]), "prompt": row["prompt"], "reference": None}


def eval_rows(dataset, schema: str, tokenizer, *, limit: int | None, seed: int) -> list[dict]:
    """Formatted eval rows, one per distinct prompt (comparison data repeat posts), seeded subsample.
    Raises FormatError when two distinct prompts get the same id."""
    fmt = EVAL_FORMATS.get(schema)
    rows, seen, ids = [], set(), {}
    for row in dataset:
        r = fmt(row, tokenizer)
        if r["prompt"] in seen:
            continue
        if r["id"] in ids:  # answers and judgments are paired by id: a shared id would cross them
            raise FormatError(f"two different {schema} evaluation prompts share the id {r['id']!r} "
                              f"({ids[r['id']][:60]!r} and {r['prompt'][:60]!r}); ids must be unique")
        seen.add(r["prompt"])
        ids[r["id"]] = r["prompt"]
        rows.append(r)
    if limit is not None and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    return rows
