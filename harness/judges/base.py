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

from harness.registry import Registry, lazy


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


# name -> factory(**settings) -> Judge. Lazy factories: a judge's module (torch for a reward model, the
# tiny suite's grammar for its gold judge) is imported when the judge is made, never to register it.
JUDGES: Registry = Registry("judge")


def _register() -> None:
    from harness.judges.spec import builtin_judges, load_spec

    JUDGES.add("gold-tiny", lazy("harness.suites.tiny.gold:GoldJudge"),
               "deterministic sentiment reward of the tiny suite's review language")
    JUDGES.add("ifeval", lazy("harness.judges.ifeval:IFEvalJudge"),
               "verifiable instructions (word limits, keywords, case, format) scored by code")
    for name in builtin_judges():  # the LLM judges, each a folder of harness/judges/configs/
        JUDGES.add(name, lazy("harness.judges.llm:LLMJudge", name), load_spec(name).description)


_register()
