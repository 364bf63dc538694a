"""Reading a verdict out of a judge model's answer. Every parser returns None when it cannot, and
the caller retries once and then counts the comparison as unparseable (never a silent default).

Pairwise parsers return the preference for the answer shown in position A, in [0, 1]:

* ``logprobs`` (AlpacaEval "weighted"): the probability mass of each label among the first token's
  alternatives, P = sum_l m_l * value_l / sum_l m_l. Endpoints that return no log-probs fall back
  to reading the first token of the text, and the result records which source was used.
* ``verdict`` (MT-Bench): the last ``[[label]]`` in the text.
* ``json``: ``{"<json_field>": "<label>"}``, for endpoints with JSON-schema constrained output.

Single-answer parsers return a grade in [1, 10]: ``rating`` reads the last ``[[n]]``; ``json``
reads ``{"<json_field>": n}``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from harness.judges.spec import JudgeSpec
from harness.llm_client import Completion

_BRACKETS = re.compile(r"\[\[\s*([^\[\]]{1,16}?)\s*\]\]")
RATING_RANGE = (1.0, 10.0)


@dataclass(frozen=True)
class Parsed:
    value: float | None  # preference for position A (pairwise) or grade (single); None: unparseable
    source: str  # "logprobs" | "text"


def _label_value(spec: JudgeSpec, token: str) -> float | None:
    value = spec.labels.get(token.strip())
    return None if value is None else float(value)


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
            return Parsed(sum(v * m for v, m in mass.items()) / total if total > 0 else None, "logprobs")
        words = text.split()
        return Parsed(_label_value(spec, words[0].strip(".:,*")) if words else None, "text")
    if spec.parser == "verdict":
        found = [_label_value(spec, m) for m in _BRACKETS.findall(text)]
        found = [v for v in found if v is not None]
        return Parsed(found[-1] if found else None, "text")
    label = _json_field(spec, text)
    return Parsed(_label_value(spec, label) if isinstance(label, str) else None, "text")


def _rating(value) -> float | None:
    try:
        rating = float(value)
    except (TypeError, ValueError):
        return None
    return rating if RATING_RANGE[0] <= rating <= RATING_RANGE[1] else None


def parse_rating(spec: JudgeSpec, completion: Completion) -> Parsed:
    if spec.parser == "rating":
        found = [r for r in (_rating(m) for m in _BRACKETS.findall(completion.text)) if r is not None]
        return Parsed(found[-1] if found else None, "text")
    value = _json_field(spec, completion.text)
    return Parsed(_rating(value) if not isinstance(value, bool) else None, "text")
