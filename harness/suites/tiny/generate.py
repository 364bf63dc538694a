"""The tiny suite's sampler: completions and their log-probs (Hugging Face ``generate`` on CPU).

Scoring completions under another model is ``harness.suites.logprobs.sequence_logps``. Every
function works on token ids; text is decoded by the caller. Sampling is seeded through a local
generator state so that evaluation never disturbs the training RNG (and vice versa).
"""

from __future__ import annotations

import torch

from harness.suites.logprobs import left_pad
from harness.suites.tiny.metrics import SampleConfig


def _cut(row: list[int], eos_id: int, pad_id: int) -> list[int]:
    """A generated continuation up to and including the first EOS (pads after it removed)."""
    if eos_id in row:
        return row[: row.index(eos_id) + 1]
    return [t for t in row if t != pad_id]


@torch.no_grad()
def sample(model, prompts: list[list[int]], cfg: SampleConfig, *, seed: int, pad_id: int, eos_id: int,
           suppress: tuple[int, ...] = (), progress: str | None = None) -> tuple[list[list[list[int]]], torch.Tensor]:
    """``cfg.samples_per_prompt`` completions (token ids, EOS included when emitted) per prompt, and
    the summed log-prob of each under the distribution actually sampled from, (prompts * samples,)
    float64 in prompt-major order (taken from generate's scores, so no second forward is needed).
    ``progress``: a bar with this description on stderr, advancing per prompt."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    out: list[list[list[int]]] = [[] for _ in prompts]
    logps = []
    per_call = max(1, cfg.batch_size // cfg.samples_per_prompt)
    bar = tqdm(total=len(prompts), desc=progress, unit="prompt", disable=progress is None, leave=False)
    with torch.random.fork_rng(devices=[]), bar:
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
            bar.update(len(chunk))
    model.train(was_training)
    return out, torch.cat(logps)


def _sampled_logps(scores: tuple[torch.Tensor, ...], tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Sum of log-softmax(processed scores) at the sampled tokens, up to and including the first EOS."""
    steps = torch.stack(scores, dim=1).float().log_softmax(dim=-1)  # (B, T, V)
    picked = steps.gather(-1, tokens[:, :steps.shape[1], None]).squeeze(-1)
    is_eos = tokens[:, :steps.shape[1]] == eos_id
    alive = (torch.cumsum(is_eos, dim=1) - is_eos.long()) == 0  # before or at the first EOS
    return torch.where(alive, picked, 0.0).sum(dim=1).double()  # pads after EOS are -inf (suppressed)
