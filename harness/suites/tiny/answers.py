"""The tiny suite's part of a record's answers (harness.transcript): the last checkpoint's answers of each
seed (``Checkpoint.answers``, carried in the per-seed metrics by ``seed_metrics``) with the evaluation
prompts and their first reference answers."""

from __future__ import annotations

from harness.transcript import make_answers, seed_answers


def answers_block(per_seed: list[dict], prompts: list[str], references: list[list[str]] | None, judge: dict):
    """The record's answers (harness.transcript) from the seeds' last-checkpoint answers, which are
    taken out of ``per_seed``; None when a seed has none (or no references are at hand)."""
    shown = [s.pop("answers", None) for s in per_seed]
    if references is None or any(a is None for a in shown):
        return None
    steps = sorted({a["step"] for a in shown})
    return make_answers(
        list(prompts), [r[0] for r in references],
        [seed_answers(s["seed"], a["outputs"], a["preference"], notes=a["notes"]) for s, a in zip(per_seed, shown,
                                                                                                  strict=True)],
        point=f"end of training (step {', '.join(f'{x:g}' for x in steps)}): first sample per prompt vs the first "
              "reference answer; notes: gold rewards (sample vs reference), the prompt's score over all samples "
              "and references", judge_id=judge["id"], judge_kind="code")
