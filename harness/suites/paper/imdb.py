"""IMDb evaluation: sentiment reward and KL to the reference, for the paper's reward-KL frontier.

The paper (IMDb positive reviews, gpt2-imdb) scores a sampled continuation by P(positive) from a
sentiment classifier and plots mean reward against KL(policy || reference) across a beta sweep; at
beta 0.05 DPO reached reward 0.972 at KL 0.990 and LRML 0.975 at KL 0.656. KL is estimated on the
policy's own samples: mean over y ~ pi of log pi(y | x) - log ref(y | x) (sequence level), so the
samples must come from the policy's distribution (temperature 1, no top-k / top-p).
"""

from __future__ import annotations

import numpy as np
import torch

from harness.suites.logprobs import sequence_logps


def positive_index(classifier, positive_label: str) -> int:
    labels = {str(v).upper(): int(k) for k, v in classifier.config.id2label.items()}
    if positive_label.upper() not in labels:
        raise ValueError(f"the classifier has no {positive_label!r} label (labels: {sorted(labels)})")
    return labels[positive_label.upper()]


@torch.no_grad()
def sentiment_rewards(classifier, tokenizer, texts: list[str], *, positive_label: str = "POSITIVE",
                      batch_size: int = 64, max_length: int = 512) -> np.ndarray:
    """P(positive) of each text under the classifier."""
    classifier.eval()
    k = positive_index(classifier, positive_label)
    device = next(classifier.parameters()).device
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length).to(device)
        out.append(torch.softmax(classifier(**enc).logits.float(), dim=-1)[:, k].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def kl_to_reference(policy, reference, prompts: list[list[int]], samples: list[list[int]], *,
                    pad_id: int, batch_size: int = 16) -> float:
    """Mean sequence-level log pi(y|x) - log ref(y|x) over the policy's samples y."""
    lp = sequence_logps(policy, prompts, samples, pad_id=pad_id, batch_size=batch_size).numpy()
    lr = sequence_logps(reference, prompts, samples, pad_id=pad_id, batch_size=batch_size).numpy()
    return float((lp - lr).mean())


def frontier_point(beta: float, rewards: np.ndarray, kl: float) -> dict:
    return {"beta": beta, "reward": float(np.mean(rewards)),
            "reward_sem": float(np.std(rewards, ddof=1) / np.sqrt(len(rewards))) if len(rewards) > 1 else 0.0,
            "kl": kl}


def sweep_overrides(reward_spec) -> list[dict]:
    """One config override per beta of the sweep (``harness bench --suite imdb`` runs each)."""
    return [{"train.beta": b} for b in reward_spec.beta_sweep]


def evaluate_samples(suite, artifacts, policy_folder, rows: list[dict], token_ids: list[list[tuple]], *,
                     device: str, beta: float) -> dict:
    """Reward and KL of the trained policy's samples: one point of the reward-KL frontier."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    spec = suite.config.reward
    tok = AutoTokenizer.from_pretrained(policy_folder)
    clf_tok = AutoTokenizer.from_pretrained(spec.classifier)
    clf = AutoModelForSequenceClassification.from_pretrained(spec.classifier).to(device)
    texts = [r["prompt"] + tok.decode(list(s), skip_special_tokens=True) for r, ids in zip(rows, token_ids, strict=True)
             for s in ids]  # the whole review: opening + continuation, spacing as generated
    rewards = sentiment_rewards(clf, clf_tok, texts, positive_label=spec.positive_label)
    del clf
    prompts = [tok.encode(r["prompt"], add_special_tokens=False) for r, ids in zip(rows, token_ids, strict=True)
               for _ in ids]
    samples = [list(s) for ids in token_ids for s in ids]
    policy = AutoModelForCausalLM.from_pretrained(policy_folder).to(device)
    reference = suite.load_model(device)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    kl = kl_to_reference(policy, reference, prompts, samples, pad_id=pad)
    return frontier_point(beta, rewards, kl)
