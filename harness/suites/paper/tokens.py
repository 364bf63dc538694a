"""Tokenised pairs of a paper suite (their reference log-probs: harness.suites.logprobs).

The reference model's summed completion log-probs are computed ONCE per suite (model x data x
tokenisation settings) and saved beside the tokenised pairs under ``cache_dir()``; every candidate's
trainer reads them as the ``ref_chosen_logps`` / ``ref_rejected_logps`` columns (TRL's precomputed
reference path), so a GPU host never runs the frozen reference model again for the next candidate.

Truncation (``tokenize_pairs``): a pair cut to ``max_length`` loses the end of its completions (and
their end-of-turn marker), and two answers that differ only after the cut become the SAME token
ids, a pair with no preference left in it whose DPO-family loss gradient is zero or pure noise.
Such pairs are dropped; truncated and dropped pairs are counted (``PairCounts``, saved in the
build's ``build.json`` and in every record's metrics) and a warning is given when more than
``TRUNCATED_WARN_SHARE`` of the pairs were cut or any was dropped.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

TRUNCATED_WARN_SHARE = 0.05  # more than 5% of pairs cut: the suite's max_length is too short for its data


@dataclass(frozen=True)
class PairCounts:
    pairs: int  # pairs formatted
    truncated: int  # pairs of which the prompt or a completion was cut
    identical_dropped: int  # pairs whose chosen and rejected ids were identical after tokenisation and cutting

    def as_dict(self) -> dict:
        return asdict(self)


def _encode(tokenizer, pair: dict) -> dict:
    enc = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    return {"prompt_ids": enc(pair["prompt"]), "chosen_ids": enc(pair["chosen"]), "rejected_ids": enc(pair["rejected"])}


def _cut(full: dict, *, max_length: int, max_prompt_length: int) -> dict:
    prompt = full["prompt_ids"][-max_prompt_length:]
    room = max_length - len(prompt)
    return {"prompt_ids": prompt, "chosen_ids": full["chosen_ids"][:room], "rejected_ids": full["rejected_ids"][:room]}


def tokenize_pair(tokenizer, pair: dict, *, max_length: int, max_prompt_length: int) -> dict:
    """Token ids of a text pair. Templates already hold BOS, so no special tokens are added.

    Over-long prompts keep their END (the question and the assistant marker); completions are then
    cut so that prompt + completion fits ``max_length`` (TRL's keep-end / truncate-completion rule).
    """
    return _cut(_encode(tokenizer, pair), max_length=max_length, max_prompt_length=max_prompt_length)


def tokenize_pairs(tokenizer, pairs, *, max_length: int, max_prompt_length: int) -> tuple[list[dict], PairCounts]:
    """``tokenize_pair`` on every text pair, without the pairs that truncation made identical; their counts."""
    rows, total, truncated, identical = [], 0, 0, 0
    for pair in pairs:
        total += 1
        full = _encode(tokenizer, pair)
        ids = _cut(full, max_length=max_length, max_prompt_length=max_prompt_length)
        truncated += any(len(ids[k]) < len(full[k]) for k in ids)
        if ids["chosen_ids"] == ids["rejected_ids"]:
            identical += 1
            continue
        rows.append(ids)
    counts = PairCounts(total, truncated, identical)
    if total and (truncated > TRUNCATED_WARN_SHARE * total or identical):
        warnings.warn(f"{truncated} of {total} training pairs were truncated to max_length {max_length} (prompt at "
                      f"most {max_prompt_length} tokens) and {identical} became identical (chosen = rejected) and "
                      "were dropped: raise train.max_length / train.max_prompt_length, or filter long pairs",
                      stacklevel=2)
    return rows, counts
