"""An offline verifiable-instruction judge (IFEval-style): constraints scored by code, not by an LLM.

A prompt carries one or more instructions from a fixed catalogue ("Answer in at most 20 words.",
"Include the word 'river'.", ...). Each instruction is recognised in the prompt text by its exact
phrasing and checked on the answer by a small function, so the verdict is deterministic, free and
cannot drift with a judge model's version. An answer's score is the fraction of the prompt's
instructions it follows; an empty answer follows none (otherwise "say nothing" would satisfy word
limits and forbidden characters). A comparison prefers the answer with the higher score; equal scores
are a tie (0.5), as in AlpacaEval's preference convention.

The catalogue is versioned (``IFEVAL_VERSION``); the judge's ``hash`` covers it, so a change of any
instruction or check changes the judge id in every record.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.judges.base import Comparison, Judgment

IFEVAL_VERSION = 1


@dataclass(frozen=True)
class Kind:
    name: str
    template: str  # the instruction as written in prompts; {arg} is the argument
    pattern: str  # regex that recognises the instruction (group 1 = argument, when any)
    check: Callable[[str, str], bool]  # (answer, argument) -> followed?


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text)


def _has_letters(text: str) -> bool:
    return any(c.isalpha() for c in text)


KINDS: tuple[Kind, ...] = (
    Kind("max_words", "Answer in at most {arg} words.", r"Answer in at most (\d+) words\.",
         lambda a, n: 0 < len(_words(a)) <= int(n)),
    Kind("min_words", "Answer in at least {arg} words.", r"Answer in at least (\d+) words\.",
         lambda a, n: len(_words(a)) >= int(n)),
    Kind("keyword", "Include the word '{arg}' in your answer.", r"Include the word '([^']+)' in your answer\.",
         lambda a, w: re.search(rf"\b{re.escape(w)}\b", a, re.IGNORECASE) is not None),
    Kind("lowercase", "Write your whole answer in lowercase letters.",
         r"(Write your whole answer in lowercase letters\.)", lambda a, _: _has_letters(a) and a == a.lower()),
    Kind("uppercase", "Write your whole answer in capital letters.",
         r"(Write your whole answer in capital letters\.)", lambda a, _: _has_letters(a) and a == a.upper()),
    Kind("no_comma", "Do not use any commas.", r"(Do not use any commas\.)",
         lambda a, _: _has_letters(a) and "," not in a),
    Kind("start_word", "Start your answer with the word '{arg}'.", r"Start your answer with the word '([^']+)'\.",
         lambda a, w: (_words(a)[:1] or [""])[0].lower() == w.lower()),
    Kind("bullets", "Answer with exactly {arg} bullet points starting with '* '.",
         r"Answer with exactly (\d+) bullet points starting with '\* '\.",
         lambda a, n: len(re.findall(r"^\s*\* ", a, re.MULTILINE)) == int(n)),
)
_BY_NAME = {k.name: k for k in KINDS}


@dataclass(frozen=True)
class Instruction:
    kind: str
    arg: str = ""

    def text(self) -> str:
        return _BY_NAME[self.kind].template.format(arg=self.arg)

    def followed(self, answer: str) -> bool:
        return bool(_BY_NAME[self.kind].check(answer.strip(), self.arg))


def parse_instructions(prompt: str) -> list[Instruction]:
    """Every catalogue instruction found in ``prompt``, in catalogue order."""
    found = []
    for kind in KINDS:
        for m in re.finditer(kind.pattern, prompt):
            found.append(Instruction(kind.name, m.group(1) if "{arg}" in kind.template else ""))
    return found


def score(prompt: str, answer: str) -> float:
    """Fraction of the prompt's instructions that ``answer`` follows; a prompt must carry one."""
    instructions = parse_instructions(prompt)
    if not instructions:
        raise ValueError(f"no verifiable instruction found in the prompt: {prompt[:120]!r}")
    return sum(i.followed(answer) for i in instructions) / len(instructions)


def definition() -> dict:
    """Everything that determines the verdicts (hashed into the judge id)."""
    return {"version": IFEVAL_VERSION,
            "kinds": [(k.name, k.template, k.pattern, inspect.getsource(k.check).strip()) for k in KINDS]}


class IFEvalJudge:
    id = "ifeval"

    def __init__(self):
        self.hash = hashlib.sha256(repr(definition()).encode()).hexdigest()[:16]

    def judge(self, comparisons: list[Comparison]) -> list[Judgment]:
        out = []
        for c in comparisons:
            mine, theirs = score(c.prompt, c.output), score(c.prompt, c.reference)
            pref = 0.5 if mine == theirs else float(mine > theirs)
            out.append(Judgment(pref, {"score": mine, "reference_score": theirs}))
        return out


