"""Evaluation metrics: checkpoint summaries, the matched-KL verdict, seed aggregation, outcomes.

The primary verdict follows the issue's protocol study: scoring at the END of training after a
learning-rate search was biased for unstable losses, while the win rate at a MATCHED KL budget
(where KL(policy || reference) first reaches the budget) gave the same tiers on every seed. This is
the toy analogue of the paper's reward-KL frontier (DiscoPOP paper, IMDb experiment).

Per seed, the score at a budget is measured (interpolated inside a bracket at most
``EvalConfig.max_bracket_kl`` wide, evaluated densely when wider: harness.suites.tiny.budget),
``censored`` (never reached) or ``unresolved``; only measured seeds enter the headline, and the
metrics count the others. Every score is a per-prompt mean over samples x reference answers, and
the record keeps the per-prompt tables (``outcomes``) so that runs can be compared after the fact,
paired on seeds and prompts. "Better than reference" is a paired comparison with the step-0 table
(the policy IS the reference model there, scored the same way), not with 0.5. Each seed also says
whether its training burst (harness.suites.tiny.stability), and the run its burst rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness.hashing import make_outcomes
from harness.stats.crossed import win_rate_ci
from harness.stats.paired import paired_difference_ci
from harness.suites.tiny.budget import (
    CENSORED,
    MAX_BRACKET_KL,
    MEASURED,
    SUBSTEP_BISECTIONS,
    UNRESOLVED,
    Crossing,
)
from harness.suites.tiny.stability import burst_fields, burst_metrics

COMPARISONS = ("all-references", "one-reference")


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
    resamples: int = 2000  # bootstrap resamples (thorough mode's per-lr summaries)
    # every policy sample against every reference answer of its prompt (samples x references
    # comparisons per prompt; the gold judge scores each text once), or sample j against reference j
    comparisons: str = "all-references"
    max_bracket_kl: float = MAX_BRACKET_KL  # nats; wider brackets are evaluated densely (budget.py says why)
    substep_bisections: int = SUBSTEP_BISECTIONS  # halvings of one optimizer step in that dense evaluation

    def __post_init__(self):
        if not self.kl_budgets or min(self.kl_budgets) <= 0:
            raise ValueError("kl_budgets must be a non-empty tuple of positive numbers (nats)")
        if self.comparisons not in COMPARISONS:
            raise ValueError(f"comparisons must be one of {COMPARISONS}, got {self.comparisons!r}")
        if not self.max_bracket_kl > 0:
            raise ValueError("max_bracket_kl must be positive (nats)")
        if not isinstance(self.substep_bisections, int) or not 0 <= self.substep_bisections <= 10:
            raise ValueError("substep_bisections must be an integer from 0 (whole optimizer steps only) to 10")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Checkpoint:
    """One in-memory evaluation: per-prompt arrays (mean over samples) plus scalar summaries."""

    step: float  # an optimizer step; fractional inside one step (budget.py)
    win: np.ndarray  # (prompts,) preference for the policy over the references, ties 0.5 (EvalConfig.comparisons)
    win_one: np.ndarray  # (prompts,) sample j against reference answer j only (for the power benchmark)
    reward: np.ndarray  # (prompts,) mean gold reward
    kl: float  # mean over samples of log pi(y) - log ref(y), y ~ pi
    fluency: float
    mean_length: float
    distinct: dict
    # per prompt, the first sample's text, its verdict against the first reference and the gold scores in
    # words (harness.transcript.seed_answers); the record keeps those of the last checkpoint
    answers: dict | None = None

    def summary(self) -> dict:
        return {"step": self.step, "kl": self.kl, "win_rate": float(self.win.mean()),
                "reward": float(self.reward.mean()), "fluency": self.fluency, "mean_length": self.mean_length,
                **{f"distinct_{n}": v for n, v in self.distinct.items()}}


def distinct_n(completions: list[list[int]], n: int) -> float:
    """Distinct n-grams / total n-grams over all completions (diversity; collapse drives it down)."""
    grams = [tuple(c[i:i + n]) for c in completions for i in range(len(c) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def table_names(cfg: EvalConfig) -> list[str]:
    """Outcome table per budget: "verdict" for the primary one, "kl<budget>" for the others."""
    return ["verdict" if i == 0 else f"kl{b:g}" for i, b in enumerate(cfg.kl_budgets)]


def _key(i: int, budget: float) -> str:
    return "" if i == 0 else f"_kl{budget:g}"


def _ci_fields(prefix: str, est) -> dict:
    return {prefix: est.mean, f"{prefix}_ci": [est.low, est.high], f"{prefix}_sem": est.sem}


def seed_metrics(seed: int, trajectory: list[Checkpoint], crossings: list[Crossing], cfg: EvalConfig):
    """Scalar metrics of one seed and its per-prompt arrays (None where the budget was not measured).

    ``crossings`` holds one budget.Crossing per ``cfg.kl_budgets`` (jumps already refined)."""
    end, start = trajectory[-1], trajectory[0]
    metrics: dict = {"seed": seed}
    arrays: dict = {"end": end.win, "end_one": end.win_one, "reference": start.win, "reference_one": start.win_one,
                    "reward_end": end.reward}
    for i, (budget, name, c) in enumerate(zip(cfg.kl_budgets, table_names(cfg), crossings, strict=True)):
        key = _key(i, budget)
        win = c.scores("win")
        arrays[name], arrays[f"{name}_one"], arrays[f"reward{key}"] = win, c.scores("win_one"), c.scores("reward")
        est = win_rate_ci(win[None, :], cfg.ci_level) if win is not None else None
        metrics.update({f"win_rate{key}": None if est is None else est.mean,
                        f"win_rate{key}_ci": None if est is None else [est.low, est.high],
                        f"reward{key}": None if win is None else float(arrays[f"reward{key}"].mean()),
                        f"status{key}": c.status, f"censored{key}": c.status == CENSORED,
                        f"budget_step{key}": None if win is None else c.step, f"crossing{key}": c.summary()})
    metrics.update({"win_rate_end": float(end.win.mean()), "reward_end": float(end.reward.mean()),
                    "win_rate_reference": float(start.win.mean()),
                    "kl": end.kl, "fluency": end.fluency, "mean_length": end.mean_length,
                    **{f"distinct_{n}": v for n, v in end.distinct.items()},
                    "trajectory": [c.summary() for c in trajectory]})
    metrics.update(burst_fields(metrics["trajectory"]))
    if end.answers is not None:  # moved into the record's answers block by run_seeds / pool_seed_jobs
        metrics["answers"] = {**end.answers, "step": end.step}
    return metrics, arrays


def outcomes(per_seed: list[dict], arrays: list[dict], cfg: EvalConfig, prompts: list[str]) -> dict:
    """The record's ``outcomes`` (harness.records.make_outcomes): per table a list over seeds of
    per-prompt scores (a null row where the seed has no measured value), the verdict's seed statuses,
    and how the scores were compared (``comparisons``)."""
    names = [*table_names(cfg), "end", "reference"]
    block = make_outcomes(list(prompts), {n: [a[n] for a in arrays] for n in names},
                          [s["status"] for s in per_seed])
    return {**block, "comparisons": cfg.comparisons}


def _rows(table: list) -> np.ndarray | None:
    rows = [r for r in table if r is not None]
    return np.array(rows, dtype=float) if rows else None


def aggregate(per_seed: list[dict], arrays: list[dict], cfg: EvalConfig, prompts: list[str]) -> dict:
    """Cross-seed metrics from the (rounded) outcome tables, crossed seeds x prompts CIs (harness.stats).

    Only measured seeds enter a budget's win rate; ``measured_seeds``, ``censored_seeds`` and
    ``unresolved_seeds`` (suffixed per budget) count them, and with none measured the win rate is
    None. ``prompts`` are the evaluation prompts in table order. The result holds ``outcomes`` (the
    suite's run_seeds moves it into its SuiteResult)."""
    out_tables = outcomes(per_seed, arrays, cfg, prompts)
    tables = out_tables["tables"]
    level = cfg.ci_level
    out: dict = {"kl_budget": cfg.kl_budgets[0], "max_bracket_kl": cfg.max_bracket_kl,
                 "comparisons": cfg.comparisons}
    for i, (budget, name) in enumerate(zip(cfg.kl_budgets, table_names(cfg), strict=True)):
        key = _key(i, budget)
        statuses = [s[f"status{key}"] for s in per_seed]
        counts = {st: statuses.count(st) for st in (MEASURED, CENSORED, UNRESOLVED)}
        rows = _rows(tables[name])
        if rows is None:
            out.update({f"win_rate{key}": None, f"win_rate{key}_ci": None, f"win_rate{key}_sem": None,
                        f"reward{key}": None})
        else:
            out.update(_ci_fields(f"win_rate{key}", win_rate_ci(rows, level)))
            out[f"reward{key}"] = float(np.mean([a[f"reward{key}"].mean() for a in arrays
                                                 if a[f"reward{key}"] is not None]))
        out.update({f"censored{key}": counts[CENSORED] > 0, f"measured{key}_seeds": counts[MEASURED],
                    f"censored{key}_seeds": counts[CENSORED], f"unresolved{key}_seeds": counts[UNRESOLVED]})
    out.update(_ci_fields("win_rate_end", win_rate_ci(_rows(tables["end"]), level)))
    out.update(_ci_fields("win_rate_reference", win_rate_ci(_rows(tables["reference"]), level)))
    out["reward_end"] = float(np.mean([a["reward_end"].mean() for a in arrays]))
    for name in ("kl", "fluency", "mean_length", *[f"distinct_{n}" for n in range(1, cfg.distinct_n + 1)]):
        values = np.array([s[name] for s in per_seed], dtype=float)
        out[name] = float(values.mean())
        out[f"{name}_seed_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out.update(_versus_reference(tables, level))
    out.update(burst_metrics(per_seed, level))
    out["outcomes"] = out_tables
    return out


def _versus_reference(tables: dict, level: float) -> dict:
    """Paired difference verdict - reference (step 0) on the measured seeds, and the verdict words."""
    pairs = [(v, r) for v, r in zip(tables["verdict"], tables["reference"], strict=True) if v is not None]
    if not pairs:
        return {"vs_reference": None, "vs_reference_ci": None, "vs_reference_sem": None,
                "verdict": "not measured: no seed has a measured value at the KL budget"}
    est = paired_difference_ci(np.array([v for v, _ in pairs]), np.array([r for _, r in pairs]), level)
    lo, hi = est.low, est.high
    words = ("better than reference" if lo > 0 else "worse than reference" if hi < 0 else
             "indistinguishable from reference")
    return {**_ci_fields("vs_reference", est), "verdict": f"{words} (paired with step 0, {len(pairs)} seed(s))"}
