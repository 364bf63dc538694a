"""Reading a verdict out of a judge model's answer. Every parser returns ``value=None`` (with the
``problem``) when it cannot; the caller retries once and then counts the call as unparseable (never
a silent default).

Pairwise parsers return the preference for the answer shown in position A, in [0, 1]:

* ``logprobs`` (AlpacaEval "weighted"): the probability mass of each label among the first token's
  alternatives, P = sum_l m_l * value_l / sum_l m_l. Endpoints that return no log-probs fall back
  to reading the first word of the text, and the result records which source was used.
* ``verdict`` (MT-Bench): the ``[[label]]`` in the text.
* ``json``: ``{"<json_field>": "<label>"}``, for endpoints with JSON-schema constrained output.

Single-answer parsers return a grade in [1, 10]: ``rating`` reads ``[[n]]``; ``json`` reads
``{"<json_field>": n}``.

Conflicting labels (the rule of arena-hard-auto's ``get_score``): a reply whose ``[[...]]`` labels
name more than one verdict (``[[A]]`` and ``[[B]]``, or two different grades), anywhere in the
text, in either order, in quotes, in code or bare, has no verdict (``problem ==
"conflicting_labels"``): the judge may be quoting an answer or its instructions, or changing its
mind, and nothing in the text says which. The same label repeated is one verdict. Labels match
exactly, else case-insensitively.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.judges.spec import JudgeSpec
from harness.llm_client import Completion

_BRACKETS = re.compile(r"\[\[\s*([^\[\]]{1,16}?)\s*\]\]")
RATING_RANGE = (1.0, 10.0)
NO_VERDICT, CONFLICTING = "no_verdict", "conflicting_labels"


@dataclass(frozen=True)
class Parsed:
    value: float | None  # preference for position A (pairwise) or grade (single); None: unparseable
    source: str  # "logprobs" | "text"
    problem: str | None = None  # why value is None: NO_VERDICT | CONFLICTING


def _label_value(spec: JudgeSpec, token: str) -> float | None:
    token = token.strip()
    value = spec.labels.get(token)
    if value is None:
        folded = [v for label, v in spec.labels.items() if label.casefold() == token.casefold()]
        value = folded[0] if len(folded) == 1 else None
    return None if value is None else float(value)


def _one_verdict(values: Iterable[float | None]) -> Parsed:
    """The single verdict among ``values`` (None entries are not labels), or why there is none."""
    distinct = {v for v in values if v is not None}
    if len(distinct) > 1:
        return Parsed(None, "text", CONFLICTING)
    return Parsed(distinct.pop(), "text") if distinct else Parsed(None, "text", NO_VERDICT)


def _json_field(spec: JudgeSpec, text: str):
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj.get(spec.json_field) if isinstance(obj, dict) else None


def parse_pairwise(spec: JudgeSpec, completion: Completion) -> Parsed:
    text = completion.text
    if spec.parser == "logprobs":
        if completion.first_token_logprobs:
            mass: dict[float, float] = {}
            for token, logprob in completion.first_token_logprobs:
                value = _label_value(spec, token)
                if value is not None:
                    mass[value] = mass.get(value, 0.0) + math.exp(logprob)
            total = sum(mass.values())
            if total > 0:
                return Parsed(sum(v * m for v, m in mass.items()) / total, "logprobs")
            return Parsed(None, "logprobs", NO_VERDICT)
        words = text.split()
        return _one_verdict([_label_value(spec, words[0].strip(".:,*`\"'")) if words else None])
    if spec.parser == "verdict":
        return _one_verdict(_label_value(spec, m) for m in _BRACKETS.findall(text))
    label = _json_field(spec, text)
    return _one_verdict([_label_value(spec, label) if isinstance(label, str) else None])


def _rating(value) -> float | None:
    try:
        rating = float(value)
    except (TypeError, ValueError):
        return None
    return rating if RATING_RANGE[0] <= rating <= RATING_RANGE[1] else None


def parse_rating(spec: JudgeSpec, completion: Completion) -> Parsed:
    if spec.parser == "rating":
        return _one_verdict(_rating(m) for m in _BRACKETS.findall(completion.text))
    value = _json_field(spec, completion.text)
    return _one_verdict([_rating(value) if not isinstance(value, bool) else None])
