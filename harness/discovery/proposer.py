"""The proposer interface, its registry, and parent selection shared by the proposers.

A proposer reads the archive and returns one ``Proposal``: loss-file code plus the parents it came
from. It never evaluates anything. Proposers are registered by name; ``make_proposer`` builds one
from a DiscoveryConfig, so the CLI's choices and error messages come from the registry.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness.discovery.archive import Archive, Candidate
from harness.discovery.config import DiscoveryConfig
from harness.registry import Registry, lazy


@dataclass(frozen=True)
class Proposal:
    code: str  # the loss file's text ("" when the proposer produced no code; see error)
    name: str  # short identifier for reports
    parent_ids: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)  # operator, thought, expression, the prompt sent, ...
    cost: float = 0.0  # API cost in USD of producing this proposal
    error: str | None = None  # set when the reply could not be turned into code: recorded as invalid


class ProposerError(RuntimeError):
    """The proposer cannot continue (endpoint unreachable, search space exhausted)."""


class Proposer(Protocol):
    def propose(self, archive: Archive) -> Proposal: ...


# name -> factory(DiscoveryConfig) -> Proposer; lazy: a proposer's module is imported when one is made
PROPOSERS: Registry[Callable[[DiscoveryConfig], Proposer]] = Registry("proposer")
PROPOSERS.add("evolve", lazy("harness.discovery.evolve:EvolveProposer"),
              "mutation and crossover of loss expression trees (offline)")
PROPOSERS.add("llm", lazy("harness.discovery.llm:LLMProposer"),
              "an LLM on an OpenAI-compatible endpoint, the DiscoPOP paper's protocol")
PROPOSERS.add("random", lazy("harness.discovery.random_search:RandomProposer"),
              "random expression trees, the control at equal budget (offline)")


def make_proposer(config: DiscoveryConfig) -> Proposer:
    return PROPOSERS.get(config.proposer)(config)


def parent_weights(scored: list[Candidate], children: dict[int, int], sharpness: float = 8.0) -> list[float]:
    """Rank-sigmoid weights divided by (1 + number of children).

    ``scored`` is best first. Rank (not raw fitness) makes selection invariant to the scale of the
    metric; the sigmoid favours the top half; the children penalty moves effort away from parents
    that were already expanded, so a lucky early candidate does not absorb the whole budget.
    """
    n = len(scored)
    weights = []
    for rank, c in enumerate(scored):
        pct = 1.0 if n == 1 else 1.0 - rank / (n - 1)
        weights.append(1.0 / (1.0 + math.exp(-sharpness * (pct - 0.5))) / (1 + children.get(c.id, 0)))
    return weights


def select_parents(scored: list[Candidate], children: dict[int, int], rng: random.Random, k: int) -> list[Candidate]:
    """Sample ``k`` distinct parents (fewer if fewer are scored) by ``parent_weights``."""
    pool = list(scored)
    weights = parent_weights(pool, children)
    chosen = []
    for _ in range(min(k, len(pool))):
        i = rng.choices(range(len(pool)), weights=weights)[0]
        chosen.append(pool.pop(i))
        weights.pop(i)
    return chosen
