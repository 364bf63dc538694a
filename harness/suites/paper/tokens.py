"""Tokenised pairs of a paper suite (their reference log-probs: harness.suites.logprobs).

The reference model's summed completion log-probs are computed ONCE per suite (model x data x
tokenisation settings) and saved beside the tokenised pairs under ``cache_dir()``; every candidate's
trainer reads them as the ``ref_chosen_logps`` / ``ref_rejected_logps`` columns (TRL's precomputed
reference path), so a GPU host never runs the frozen reference model again for the next candidate.
"""

from __future__ import annotations


def tokenize_pair(tokenizer, pair: dict, *, max_length: int, max_prompt_length: int) -> dict:
    """Token ids of a text pair. Templates already hold BOS, so no special tokens are added.

    Over-long prompts keep their END (the question and the assistant marker); completions are then
    cut so that prompt + completion fits ``max_length`` (TRL's keep-end / truncate-completion rule).
    """
    enc = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    prompt = enc(pair["prompt"])[-max_prompt_length:]
    room = max_length - len(prompt)
    return {"prompt_ids": prompt, "chosen_ids": enc(pair["chosen"])[:room],
            "rejected_ids": enc(pair["rejected"])[:room]}
