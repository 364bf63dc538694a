"""Evaluation metrics: checkpoint summaries, the matched-KL verdict, and seed aggregation.

The primary verdict follows the issue's protocol study: scoring at the END of training after a
learning-rate search was biased for unstable losses, while the win rate at a MATCHED KL budget
(interpolated along the checkpoint trajectory where KL(policy || reference) first reaches the
budget) gave the same tiers on every seed. This is the toy analogue of the paper's reward-KL
frontier (DiscoPOP paper, IMDb experiment). A run that never reaches the budget is scored at its
last checkpoint and flagged ``censored``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness.stats import bootstrap_ci, hierarchical_ci


@dataclass(frozen=True)
class SampleConfig:
    samples_per_prompt: int = 4  # completions per prompt (the CI half-width ~0.025 needs 4 x 256)
    max_new_tokens: int = 32  # a completion without EOS by then counts as truncated
    temperature: float = 1.0  # plain ancestral sampling: KL estimates need the policy's own distribution
    batch_size: int = 256  # sequences per generate call; smaller batches waste fewer steps on rows that
    # already emitted EOS (generate keeps them until the longest row ends)


@dataclass(frozen=True)
class EvalConfig:
    sample: SampleConfig = field(default_factory=SampleConfig)
    kl_budgets: tuple[float, ...] = (2.0, 1.0)  # nats; the first is the primary verdict
    distinct_n: int = 2  # distinct-n diversity is reported for n = 1..distinct_n
    ci_level: float = 0.95
    resamples: int = 2000  # bootstrap resamples

    def __post_init__(self):
        if not self.kl_budgets or min(self.kl_budgets) <= 0:
            raise ValueError("kl_budgets must be a non-empty tuple of positive numbers (nats)")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Checkpoint:
    """One in-memory evaluation: per-prompt arrays (mean over samples) plus scalar summaries."""

    step: int
    win: np.ndarray  # (prompts,) preference for the policy over the reference, ties 0.5
    reward: np.ndarray  # (prompts,) mean gold reward
    kl: float  # mean over samples of log pi(y) - log ref(y), y ~ pi
    fluency: float
    mean_length: float
    distinct: dict

    def summary(self) -> dict:
        return {"step": self.step, "kl": self.kl, "win_rate": float(self.win.mean()),
                "reward": float(self.reward.mean()), "fluency": self.fluency, "mean_length": self.mean_length,
                **{f"distinct_{n}": v for n, v in self.distinct.items()}}


def distinct_n(completions: list[list[int]], n: int) -> float:
    """Distinct n-grams / total n-grams over all completions (diversity; collapse drives it down)."""
    grams = [tuple(c[i:i + n]) for c in completions for i in range(len(c) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def at_budget(trajectory: list[Checkpoint], budget: float) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Per-prompt (win, reward) where KL first reaches ``budget``, linearly interpolated between the
    two checkpoints around the crossing; later (often collapsed) checkpoints are ignored. Returns
    (win, reward, censored, step) where step is the interpolated step."""
    for prev, cur in zip(trajectory, trajectory[1:], strict=False):
        if cur.kl >= budget:
            span = cur.kl - prev.kl
            a = 1.0 if span <= 0 else min(1.0, max(0.0, (budget - prev.kl) / span))
            win = (1 - a) * prev.win + a * cur.win
            reward = (1 - a) * prev.reward + a * cur.reward
            return win, reward, False, prev.step + a * (cur.step - prev.step)
    last = trajectory[-1]
    return last.win, last.reward, True, float(last.step)


def seed_metrics(seed: int, trajectory: list[Checkpoint], cfg: EvalConfig) -> tuple[dict, dict]:
    """Scalar metrics of one seed, and its per-prompt arrays (for the cross-seed CIs)."""
    end = trajectory[-1]
    metrics = {"seed": seed}
    arrays = {"win_end": end.win, "reward_end": end.reward}
    for i, budget in enumerate(cfg.kl_budgets):
        win, reward, censored, step = at_budget(trajectory, budget)
        key = "" if i == 0 else f"_kl{budget:g}"
        arrays[f"win{key}"], arrays[f"reward{key}"] = win, reward
        est = bootstrap_ci(win, level=cfg.ci_level, resamples=cfg.resamples, seed=seed)
        metrics.update({f"win_rate{key}": est.mean, f"win_rate{key}_ci": [est.low, est.high],
                        f"reward{key}": float(reward.mean()), f"censored{key}": censored,
                        f"budget_step{key}": step})
    metrics.update({"win_rate_end": float(end.win.mean()), "reward_end": float(end.reward.mean()),
                    "kl": end.kl, "fluency": end.fluency, "mean_length": end.mean_length,
                    **{f"distinct_{n}": v for n, v in end.distinct.items()},
                    "trajectory": [c.summary() for c in trajectory]})
    return metrics, arrays


def aggregate(per_seed: list[dict], arrays: list[dict], cfg: EvalConfig) -> dict:
    """Cross-seed metrics: hierarchical bootstrap (seeds, then prompts) for every per-prompt metric."""
    def hci(name: str):
        return hierarchical_ci([a[name] for a in arrays], level=cfg.ci_level, resamples=cfg.resamples, seed=0)

    out: dict = {"kl_budget": cfg.kl_budgets[0]}
    for i, budget in enumerate(cfg.kl_budgets):
        key = "" if i == 0 else f"_kl{budget:g}"
        win, reward = hci(f"win{key}"), hci(f"reward{key}")
        out.update({f"win_rate{key}": win.mean, f"win_rate{key}_ci": [win.low, win.high],
                    f"reward{key}": reward.mean, f"reward{key}_ci": [reward.low, reward.high],
                    f"censored{key}": any(s[f"censored{key}"] for s in per_seed),
                    f"censored{key}_seeds": sum(bool(s[f"censored{key}"]) for s in per_seed)})
    end = hci("win_end")
    out.update({"win_rate_end": end.mean, "win_rate_end_ci": [end.low, end.high],
                "reward_end": hci("reward_end").mean})
    for name in ("kl", "fluency", "mean_length", *[f"distinct_{n}" for n in range(1, cfg.distinct_n + 1)]):
        values = np.array([s[name] for s in per_seed], dtype=float)
        out[name] = float(values.mean())
        out[f"{name}_seed_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    lo, hi = out["win_rate_ci"]
    out["verdict"] = "better than reference" if lo > 0.5 else "worse than reference" if hi < 0.5 else \
        "indistinguishable from reference"
    return out
