"""Padding and summed completion log-probs, shared by every suite.

The tiny suite scores its samples and reference completions with ``sequence_logps``; the smol and
paper suites compute the reference model's log-probs of every preference pair ONCE per suite with
``reference_logps`` and hand them to training as TRL's precomputed ``ref_chosen_logps`` /
``ref_rejected_logps`` columns, so no candidate runs the frozen reference model again.
"""

from __future__ import annotations

import torch


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded (input_ids, attention_mask), both (N, max length) int64, for generation."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(s)
            mask[i, width - len(s):] = 1
    return ids, mask


def right_pad_pairs(prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """Prompt + completion rows, right-padded: (input_ids, attention_mask, completion_mask)."""
    seqs = [p + c for p, c in zip(prompts, completions, strict=True)]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    comp = torch.zeros_like(ids, dtype=torch.bool)
    for i, (p, s) in enumerate(zip(prompts, seqs, strict=True)):
        ids[i, :len(s)] = torch.tensor(s)
        attn[i, :len(s)] = 1
        comp[i, len(p):len(s)] = True
    return ids, attn, comp


@torch.no_grad()
def sequence_logps(model, prompts: list[list[int]], completions: list[list[int]], *, pad_id: int,
                   batch_size: int = 512, suppress: tuple[int, ...] = (), progress: str | None = None) -> torch.Tensor:
    """Summed log-prob of each completion given its prompt, (N,) float64 on the CPU (right-padded
    batches of ``batch_size`` rows, run on the model's device; the model's train/eval mode is kept).

    ``suppress`` removes tokens from the distribution as the tiny suite's sampler does, so that
    log-probs of the policy (from sampling) and of the reference (from here) are of the same family.
    ``progress``: a bar with this description on stderr, advancing per row."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = []
    bar = tqdm(total=len(prompts), desc=progress, unit="row", disable=progress is None, leave=False)
    for start in range(0, len(prompts), batch_size):
        ps, cs = prompts[start:start + batch_size], completions[start:start + batch_size]
        ids, attn, comp = (t.to(device) for t in right_pad_pairs(ps, cs, pad_id))
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
        if suppress:
            logits[..., list(suppress)] = float("-inf")
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        sums.append(torch.where(comp[:, 1:], logp, 0.0).sum(dim=1).double().cpu())
        bar.update(len(ps))
    bar.close()
    model.train(was_training)
    return torch.cat(sums) if sums else torch.zeros(0, dtype=torch.float64)


def reference_logps(rows: list[dict], model, pad_id: int, batch_size: int = 8, progress: bool = False) -> list[dict]:
    """Add ``ref_chosen_logps`` / ``ref_rejected_logps`` (floats) to each row holding ``prompt_ids``,
    ``chosen_ids`` and ``rejected_ids``, in place; returns ``rows``."""
    prompts = [r["prompt_ids"] for r in rows]
    for side in ("chosen", "rejected"):
        values = sequence_logps(model, prompts, [r[f"{side}_ids"] for r in rows], pad_id=pad_id,
                                batch_size=batch_size,
                                progress=f"reference log-probs ({side})" if progress else None).tolist()
        for r, v in zip(rows, values, strict=True):
            r[f"ref_{side}_logps"] = v
    return rows
