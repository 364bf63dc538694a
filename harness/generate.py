"""Sampling completions and scoring their log-probabilities (Hugging Face ``generate`` on CPU).

Every function works on token ids; text is decoded by the caller. Sampling is seeded through a
local generator state so that evaluation never disturbs the training RNG (and vice versa).
"""

from __future__ import annotations

import torch

from harness.metrics import SampleConfig


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
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


def _cut(row: list[int], eos_id: int, pad_id: int) -> list[int]:
    """A generated continuation up to and including the first EOS (pads after it removed)."""
    if eos_id in row:
        return row[: row.index(eos_id) + 1]
    return [t for t in row if t != pad_id]


@torch.no_grad()
def sample(model, prompts: list[list[int]], cfg: SampleConfig, *, seed: int, pad_id: int, eos_id: int,
           suppress: tuple[int, ...] = ()) -> tuple[list[list[list[int]]], torch.Tensor]:
    """``cfg.samples_per_prompt`` completions (token ids, EOS included when emitted) per prompt, and
    the summed log-prob of each under the distribution actually sampled from, (prompts * samples,)
    float64 in prompt-major order (taken from generate's scores, so no second forward is needed)."""
    was_training = model.training
    model.eval()
    out: list[list[list[int]]] = [[] for _ in prompts]
    logps = []
    per_call = max(1, cfg.batch_size // cfg.samples_per_prompt)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(prompts), per_call):
            chunk = prompts[start:start + per_call]
            ids, mask = left_pad(chunk, pad_id)
            gen = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, temperature=cfg.temperature, top_k=0,
                top_p=1.0, max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.samples_per_prompt,
                pad_token_id=pad_id, eos_token_id=eos_id, suppress_tokens=list(suppress) or None,
                output_scores=True, return_dict_in_generate=True,
            )
            new = gen.sequences[:, ids.shape[1]:]
            rows = new.tolist()
            for j, row in enumerate(rows):
                out[start + j // cfg.samples_per_prompt].append(_cut(row, eos_id, pad_id))
            logps.append(_sampled_logps(gen.scores, new, eos_id))
    model.train(was_training)
    return out, torch.cat(logps)


def _sampled_logps(scores: tuple[torch.Tensor, ...], tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Sum of log-softmax(processed scores) at the sampled tokens, up to and including the first EOS."""
    steps = torch.stack(scores, dim=1).float().log_softmax(dim=-1)  # (B, T, V)
    picked = steps.gather(-1, tokens[:, :steps.shape[1], None]).squeeze(-1)
    is_eos = tokens[:, :steps.shape[1]] == eos_id
    alive = (torch.cumsum(is_eos, dim=1) - is_eos.long()) == 0  # before or at the first EOS
    return torch.where(alive, picked, 0.0).sum(dim=1).double()  # pads after EOS are -inf (suppressed)


@torch.no_grad()
def sequence_logps(model, prompts: list[list[int]], completions: list[list[int]], *, pad_id: int,
                   batch_size: int = 512, suppress: tuple[int, ...] = ()) -> torch.Tensor:
    """Summed log-prob of each completion given its prompt, (N,) float64 (right-padded batches).

    ``suppress`` removes tokens from the distribution as ``sample`` does, so that log-probs of the
    policy (from sampling) and of the reference (from here) are of the same distribution family."""
    was_training = model.training
    model.eval()
    sums = []
    for start in range(0, len(prompts), batch_size):
        ps, cs = prompts[start:start + batch_size], completions[start:start + batch_size]
        ids, attn, comp = right_pad_pairs(ps, cs, pad_id)
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
        if suppress:
            logits[..., list(suppress)] = float("-inf")
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        sums.append(torch.where(comp[:, 1:], logp, 0.0).sum(dim=1).double())
    model.train(was_training)
    return torch.cat(sums) if sums else torch.zeros(0, dtype=torch.float64)
