"""The judge interface shared by the tiny suite's gold judge and the LLM judges.

A judge compares a policy's answer with a reference answer to the same prompt and returns a
preference in [0, 1] for the policy's answer (1 = policy better, 0.5 = tie), AlpacaEval-style. The
win rate is the mean preference. Judges are identified by ``id`` and a ``hash`` of everything that
determines their verdicts (prompt templates + settings, or the gold judge's definition), and both go
into every result record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.registry import Registry


@dataclass(frozen=True)
class Comparison:
    prompt: str
    output: str  # the policy's answer
    reference: str  # the reference answer
    group: str = ""  # what to cluster on for CIs (usually the prompt id)
    category: str = ""  # prompt category ("math", "coding", ...); single-answer LLM judges grade some against the reference


@dataclass(frozen=True)
class Judgment:
    preference: float  # in [0, 1] for ``output`` over ``reference``; 0.5 is a tie
    details: dict = field(default_factory=dict)  # judge-specific (rewards, raw verdicts, orders, ...)


class Judge(Protocol):
    id: str
    hash: str

    def judge(self, comparisons: list[Comparison]) -> list[Judgment]: ...


# name -> factory(**settings) -> Judge
JUDGES: Registry = Registry("judge")
