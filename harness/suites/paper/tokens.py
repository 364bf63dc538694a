"""Tokenised pairs and the reference log-prob cache, shared by every candidate of a paper suite.

The reference model's summed completion log-probs are computed ONCE per suite (model x data x
tokenisation settings) and saved beside the tokenised pairs under ``cache_dir()``; every candidate's
trainer reads them as the ``ref_chosen_logps`` / ``ref_rejected_logps`` columns (TRL's precomputed
reference path), so a GPU host never runs the frozen reference model again for the next candidate.
"""

from __future__ import annotations

import torch

from harness.generate import right_pad_pairs


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


@torch.no_grad()
def completion_logps(model, prompts: list[list[int]], completions: list[list[int]], *, pad_id: int,
                     batch_size: int = 8) -> list[float]:
    """Summed log-probs of each completion given its prompt, on the model's device (right padding)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        ps, cs = prompts[start:start + batch_size], completions[start:start + batch_size]
        ids, attn, comp = right_pad_pairs(ps, cs, pad_id)
        ids, attn, comp = ids.to(device), attn.to(device), comp.to(device)
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        out.extend((logp * comp[:, 1:]).sum(dim=1).double().cpu().tolist())
    return out


def with_reference_logps(rows: list[dict], model, pad_id: int, batch_size: int = 8) -> list[dict]:
    prompts = [r["prompt_ids"] for r in rows]
    for side in ("chosen", "rejected"):
        values = completion_logps(model, prompts, [r[f"{side}_ids"] for r in rows], pad_id=pad_id,
                                  batch_size=batch_size)
        for r, v in zip(rows, values, strict=True):
            r[f"ref_{side}_logps"] = v
    return rows
