"""The ``evolve`` proposer: mutation and crossover of loss expression trees, no LLM needed.

It first proposes the paper's baseline losses that fit the grammar (DPO, SLiC, exp, CELL, LRML) so
the search starts from known good points and every run reports the baselines it must beat; then it
mutates or crosses parents chosen by rank with a children penalty (harness.discovery.proposer).
It is the offline baseline any LLM proposer has to beat.
"""

from __future__ import annotations

import random

from harness.discovery import expressions as ex
from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.dedupe import code_key
from harness.discovery.proposer import Proposal, ProposerError, select_parents

CROSSOVER_RATE = 0.3
RANDOM_RATE = 0.05  # fresh random trees keep some exploration when the population converges
ATTEMPTS = 200


def seed_proposal(seen: set[str]) -> Proposal | None:
    """The first loss of the seed population (ex.SEEDS) whose code key is not in ``seen``, else None;
    every offline proposer starts from the same seeds."""
    for name, tree in ex.SEEDS.items():
        code = ex.render_loss_file(tree, f"seed_{name}")
        if code_key(code) not in seen:
            return Proposal(code, f"seed_{name}", (), {"operator": "seed", "expr": ex.to_json(tree)})
    return None


class EvolveProposer:
    def __init__(self, config: DiscoveryConfig):
        self.seed = config.seed
        self._calls = 0
        # Keys proposed by this instance: the archive lags behind proposals still in the queue.
        self._proposed: set[str] = set()

    def propose(self, archive: Archive) -> Proposal:
        # Seeded from the archive size too, so a resumed run does not replay the same choices.
        self._calls += 1
        rng = random.Random(f"{self.seed}:{archive.count(exclude_duplicates=False)}:{self._calls}")
        seen = archive.code_keys() | self._proposed
        seed = seed_proposal(seen)
        if seed is not None:
            return self._remember(seed)
        parents = [c for c in archive.scored() if "expr" in c.meta]
        children = archive.children_counts()
        for _ in range(ATTEMPTS):
            proposal = self._vary(parents, children, rng, archive.count(exclude_duplicates=False))
            if proposal is not None and code_key(proposal.code) not in seen:
                return self._remember(proposal)
        raise ProposerError(f"evolve found no new expression in {ATTEMPTS} attempts; the search space "
                            "around the current parents looks exhausted")

    def _remember(self, proposal: Proposal) -> Proposal:
        self._proposed.add(code_key(proposal.code))
        return proposal

    def _vary(self, parents, children, rng: random.Random, n: int) -> Proposal | None:
        try:
            if not parents or rng.random() < RANDOM_RATE:
                tree, used, operator = _random_valid(rng), [], "random"
            elif len(parents) >= 2 and rng.random() < CROSSOVER_RATE:
                a, b = select_parents(parents, children, rng, 2)
                tree = ex.crossover(ex.from_json(a.meta["expr"]), ex.from_json(b.meta["expr"]), rng)
                used, operator = [a, b], "crossover"
            else:
                (a,) = select_parents(parents, children, rng, 1)
                tree, used, operator = ex.mutate(ex.from_json(a.meta["expr"]), rng), [a], "mutation"
        except ex.ExpressionError:
            return None
        name = f"evo_{n:04d}_{operator}"
        lineage = ", ".join(f"#{p.id} {p.name}" for p in used) or "none"
        code = ex.render_loss_file(tree, name, header=f"Operator: {operator}; parents: {lineage}.\n")
        return Proposal(code, name, tuple(p.id for p in used), {"operator": operator, "expr": ex.to_json(tree)})


def _random_valid(rng: random.Random):
    for _ in range(100):
        tree = ex.random_tree(rng, 4)
        try:
            ex.validate(tree)
        except ex.ExpressionError:
            continue
        return tree
    raise ex.ExpressionError("no valid random tree in 100 attempts")


