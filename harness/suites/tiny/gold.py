"""The tiny suite's gold judge: a deterministic sentiment reward that degenerate text cannot game.

The DiscoPOP paper's IMDb task scores a completion by a sentiment classifier's P(positive). The tiny
suite's language is a template grammar (harness.suites.tiny.grammar), so its gold reward is exact:

    reward = sentiment - VIOLATION_PENALTY * violations - TRUNCATION_PENALTY * truncated

* ``sentiment`` is the MEAN of the adjectives' weights (0 when there is none). A mean, not a sum:
  stacking positive adjectives or writing longer reviews cannot raise it above the best adjective.
* ``violations`` counts fluency slips, each graded (one slip costs a little, many cost a lot; an
  all-or-nothing grammar check turned small slips into cliffs): every word-class bigram that no
  template produces ("great great", "the was", an off-topic word), every repeated adjective, an
  adjective beyond MAX_ADJ_PER_SENTENCE in one sentence or a sentence beyond MAX_SENTENCES (run-on
  text), and a completion with no adjective at all.
* ``truncated`` is 1 when the completion never emits the end-of-sequence token.

A comparison prefers the completion with the higher reward; equal rewards are a tie (0.5).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from harness.judges.base import Comparison, Judgment
from harness.suites.tiny import grammar

VIOLATION_PENALTY = 0.5
TRUNCATION_PENALTY = 1.0
MAX_ADJ_PER_SENTENCE = 2
MAX_SENTENCES = 4
TIE_TOLERANCE = 1e-9
GOLD_VERSION = 1


@dataclass(frozen=True)
class GoldScore:
    reward: float
    sentiment: float  # mean adjective weight, in [-1, 1]
    violations: int
    truncated: bool
    n_adjectives: int

    @property
    def fluent(self) -> bool:
        return self.violations == 0 and not self.truncated


_ALLOWED = grammar.allowed_bigrams()


def _bigram_ok(prev: tuple[str, ...], cur: tuple[str, ...]) -> bool:
    return any((a, b) in _ALLOWED for a in prev for b in cur)


@functools.lru_cache(maxsize=1 << 16)
def score(prompt: str, completion: str) -> GoldScore:
    """Gold score of ``completion`` as a continuation of ``prompt`` (both space-separated words).

    Memoised (a pure function of two strings, frozen result): with every policy sample compared to
    every reference answer, each text is scored once instead of once per comparison."""
    words = completion.split()
    truncated = grammar.EOS not in words
    if not truncated:
        words = words[: words.index(grammar.EOS) + 1]
    prompt_words = prompt.split()
    prev = grammar.classes_of(prompt_words[-1]) if prompt_words else ("DOT",)
    violations = 0
    weights: list[float] = []
    seen: set[str] = set()
    in_sentence = sentences = 0
    for word in words:
        cur = grammar.classes_of(word)
        if not _bigram_ok(prev, cur):
            violations += 1
        if word in grammar.ADJECTIVES:
            weights.append(grammar.ADJECTIVES[word])
            violations += word in seen
            seen.add(word)
            in_sentence += 1
            violations += in_sentence > MAX_ADJ_PER_SENTENCE
        elif word == ".":
            sentences += 1
            violations += sentences > MAX_SENTENCES
            in_sentence = 0
        prev = cur
    violations += not weights
    sentiment = sum(weights) / len(weights) if weights else 0.0
    reward = sentiment - VIOLATION_PENALTY * violations - TRUNCATION_PENALTY * truncated
    return GoldScore(float(reward), float(sentiment), int(violations), truncated, len(weights))


def definition() -> dict:
    """Everything that determines the judge's verdicts (hashed into the judge id in records)."""
    return {
        "version": GOLD_VERSION,
        "adjectives": dict(sorted(grammar.ADJECTIVES.items())),
        "classes": {k: list(v) for k, v in grammar.WORD_CLASSES.items()},
        "allowed_bigrams": sorted(_ALLOWED),
        "violation_penalty": VIOLATION_PENALTY,
        "truncation_penalty": TRUNCATION_PENALTY,
        "max_adj_per_sentence": MAX_ADJ_PER_SENTENCE,
        "max_sentences": MAX_SENTENCES,
    }


class GoldJudge:
    """Judge protocol implementation: preference 1 / 0 / 0.5 by comparing gold rewards."""

    id = "gold-tiny"

    def __init__(self):
        blob = json.dumps(definition(), sort_keys=True).encode()
        self.hash = hashlib.sha256(blob).hexdigest()[:16]

    def judge(self, comparisons: list[Comparison]) -> list[Judgment]:
        out = []
        for c in comparisons:
            a, b = score(c.prompt, c.output), score(c.prompt, c.reference)
            diff = a.reward - b.reward
            pref = 0.5 if abs(diff) <= TIE_TOLERANCE else float(diff > 0)
            out.append(Judgment(pref, {"reward": a.reward, "reference_reward": b.reward, "fluent": a.fluent}))
        return out


