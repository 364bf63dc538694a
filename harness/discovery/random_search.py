"""The ``random`` proposer: the control a proposer must beat (ShinkaEvolve and OpenEvolve report
their search against random sampling at the same budget).

Same expression space as ``evolve`` (harness.discovery.expressions), same start (the paper's
baselines that fit the grammar, proposed first), then independent random trees: no parent, no
selection, no variation. Differences in best re-evaluated win rate between ``evolve`` and ``random``
at equal candidate counts (benchmarks/experiments/bench_discovery_efficiency.py) measure what selection adds.
"""

from __future__ import annotations

import random

from harness.discovery import expressions as ex
from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.dedupe import code_key
from harness.discovery.evolve import seed_proposal
from harness.discovery.proposer import Proposal, ProposerError

ATTEMPTS = 200
DEPTH = 4  # evolve's fresh random trees use the same depth


class RandomProposer:
    def __init__(self, config: DiscoveryConfig):
        self.seed = config.seed
        self._calls = 0
        self._proposed: set[str] = set()

    def propose(self, archive: Archive) -> Proposal:
        self._calls += 1
        rng = random.Random(f"random:{self.seed}:{archive.count(exclude_duplicates=False)}:{self._calls}")
        seen = archive.code_keys() | self._proposed
        seed = seed_proposal(seen)
        if seed is not None:
            return self._remember(seed)
        n = archive.count(exclude_duplicates=False)
        for _ in range(ATTEMPTS):
            tree = ex.random_tree(rng, DEPTH)
            if not ex._is_valid(tree):
                continue
            name = f"rnd_{n:04d}"
            code = ex.render_loss_file(tree, name, header="Operator: random (control); parents: none.\n")
            if code_key(code) not in seen:
                return self._remember(Proposal(code, name, (), {"operator": "random", "expr": ex.to_json(tree)}))
        raise ProposerError(f"random found no new expression in {ATTEMPTS} attempts")

    def _remember(self, proposal: Proposal) -> Proposal:
        self._proposed.add(code_key(proposal.code))
        return proposal


