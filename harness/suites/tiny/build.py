"""Build the tiny suite's artifacts once: SFT model, on-policy preference pairs, reference data.

Stages (each timed into build.json):
1. prompts: distinct review openings from the grammar, split into train and held-out eval prompts;
2. SFT: the model is trained from scratch on grammar reviews of mixed sentiment (all moods), so the
   reference policy writes fluent reviews of every sentiment and has room to be steered;
3. pairs: two completions per train prompt sampled ON-POLICY from the SFT model and labelled by the
   gold judge (higher gold reward = chosen; ties dropped), as in the paper's IMDb setup;
4. reference log-probs of every pair under the SFT model (never recomputed per candidate);
5. reference completions: ``samples_per_prompt`` SFT samples per held-out prompt, the opponents of
   every candidate's samples in the win rate.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from harness.suites import cache
from harness.suites.logprobs import reference_logps
from harness.suites.tiny import generate, gold, grammar
from harness.suites.tiny.model import build_model
from harness.suites.tiny.tokenizer import build_tokenizer


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _sft_batch(tokenizer, prompts: list[str], rng: random.Random, batch_size: int, pad_id: int):
    texts = []
    for _ in range(batch_size):
        p = rng.choice(prompts)
        texts.append(p + " " + grammar.sample_completion(p, rng))
    seqs = [_encode(tokenizer, t) for t in texts]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    attn = (ids != pad_id).long()
    labels = ids.masked_fill(attn == 0, -100)
    return ids, attn, labels


def train_sft(model, tokenizer, prompts: list[str], cfg, progress: bool) -> list[float]:
    """Next-token training on freshly sampled reviews (AdamW, warmup then cosine decay)."""
    from tqdm import tqdm

    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps)
                                              * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * s / cfg.steps)).item()))
    model.train()
    losses = []
    for _ in tqdm(range(cfg.steps), desc="tiny: SFT", disable=not progress, leave=False):
        ids, attn, labels = _sft_batch(tokenizer, prompts, rng, cfg.batch_size, tokenizer.pad_token_id)
        loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses


def _decode(tokenizer, ids: list[int]) -> str:
    return " ".join(tokenizer.convert_ids_to_tokens(ids))


def make_pairs(model, tokenizer, prompts: list[str], cfg, sample_cfg, seed: int,
               progress: bool = False) -> tuple[list[dict], dict]:
    """On-policy pairs labelled by the gold judge; returns rows and labelling statistics.

    Sampling runs in rounds (each 1.6x the missing pairs, since ties are dropped) until enough
    non-tied pairs exist; a model that keeps producing ties is an error, not a smaller suite."""
    rng = random.Random(seed)
    two = generate.SampleConfig(samples_per_prompt=2, max_new_tokens=sample_cfg.max_new_tokens,
                                batch_size=sample_cfg.batch_size)
    rows: list[dict] = []
    sampled = ties = 0
    for round_ in range(4):
        missing = cfg.pairs - len(rows)
        if missing <= 0:
            break
        chosen_prompts = [rng.choice(prompts) for _ in range(int(missing * 1.6) + 8)]
        ids = [_encode(tokenizer, p) for p in chosen_prompts]
        samples, _ = generate.sample(model, ids, two, seed=seed + 7919 * round_, pad_id=tokenizer.pad_token_id,
                                     eos_id=tokenizer.eos_token_id, suppress=_suppressed(tokenizer),
                                     progress=f"tiny: pairs (round {round_ + 1})" if progress else None)
        for p_text, p_ids, (a, b) in zip(chosen_prompts, ids, samples, strict=True):
            if len(rows) == cfg.pairs:
                break
            sampled += 1
            ra = gold.score(p_text, _decode(tokenizer, a)).reward
            rb = gold.score(p_text, _decode(tokenizer, b)).reward
            if abs(ra - rb) <= gold.TIE_TOLERANCE:
                ties += 1
                continue
            c, r = (a, b) if ra > rb else (b, a)
            rows.append({"prompt": p_text, "prompt_ids": p_ids, "chosen_ids": c, "rejected_ids": r,
                         "chosen_reward": max(ra, rb), "rejected_reward": min(ra, rb)})
    if len(rows) < cfg.pairs:
        raise RuntimeError(f"only {len(rows)} non-tied pairs of {cfg.pairs} after {sampled} samples; "
                           "the SFT model is too deterministic for this suite config")
    return rows, {"sampled": sampled, "ties_dropped": ties}


def _suppressed(tokenizer) -> tuple[int, ...]:
    return (tokenizer.pad_token_id, tokenizer.unk_token_id)


def build(folder: Path, config, progress: bool = True) -> None:
    """Write every artifact of the tiny suite into ``folder`` (the cache seals it afterwards)."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    torch.set_num_threads(cache.BUILD_THREADS)
    data = config.data
    pool = grammar.prompt_pool(data.seed, data.train_prompts + data.eval_prompts)
    eval_prompts, train_prompts = pool[: data.eval_prompts], pool[data.eval_prompts:]
    tokenizer = build_tokenizer()
    model = build_model(config.model, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id,
                        config.sft.seed)
    timings["setup"] = time.perf_counter() - t

    t = time.perf_counter()
    sft_losses = train_sft(model, tokenizer, train_prompts, config.sft, progress)
    timings["sft"] = time.perf_counter() - t

    t = time.perf_counter()
    rows, pair_stats = make_pairs(model, tokenizer, train_prompts, data, config.eval.sample, data.seed + 1,
                                  progress=progress)
    timings["pairs"] = time.perf_counter() - t

    t = time.perf_counter()
    reference_logps(rows, model, tokenizer.pad_token_id, batch_size=512, progress=progress)
    timings["reference_logps"] = time.perf_counter() - t

    t = time.perf_counter()
    eval_ids = [_encode(tokenizer, p) for p in eval_prompts]
    refs, _ = generate.sample(model, eval_ids, config.eval.sample, seed=data.seed + 2,
                           pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id,
                           suppress=_suppressed(tokenizer), progress="tiny: reference completions" if progress else None)
    timings["reference_completions"] = time.perf_counter() - t

    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "tokenizer")
    (folder / "pairs.json").write_text(json.dumps(rows))
    eval_rows = [{"prompt": p, "prompt_ids": ids, "reference_ids": r,
                  "reference_text": [_decode(tokenizer, x) for x in r]}
                 for p, ids, r in zip(eval_prompts, eval_ids, refs, strict=True)]
    (folder / "eval.json").write_text(json.dumps(eval_rows))
    ref_scores = [gold.score(row["prompt"], text) for row in eval_rows for text in row["reference_text"]]
    stats = {
        "timings": timings,
        "sft_final_loss": sum(sft_losses[-50:]) / min(50, len(sft_losses)),
        "pairs": pair_stats,
        "reference": {
            "reward": sum(s.reward for s in ref_scores) / len(ref_scores),
            "fluency": sum(s.fluent for s in ref_scores) / len(ref_scores),
            "chosen_reward": sum(r["chosen_reward"] for r in rows) / len(rows),
            "rejected_reward": sum(r["rejected_reward"] for r in rows) / len(rows),
        },
    }
    (folder / "build.json").write_text(json.dumps(stats, indent=1))
