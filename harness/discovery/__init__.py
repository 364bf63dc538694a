"""Discovery mode: search for new preference-optimization losses, as in the DiscoPOP paper.

One module per role in the loop:

    proposer.py   the Proposer interface, its registry, parent selection (rank x children penalty)
    evolve.py     the offline proposer: mutation/crossover of expression trees (expressions.py)
    llm.py        the LLM proposer: the paper's protocol, prompt templates in templates/
    dedupe.py     near-duplicate detection (normalised syntax tree + constants, hashed)
    evaluator.py  check then bench, in the sandbox; the ``fake`` test double
    executor.py   local worker processes or Ray tasks
    archive.py    every candidate in SQLite (resume after kill -9)
    loop.py       proposal queue + evaluation queue, budgets, resume
    outputs.py    candidates.jsonl, best_loss.py, report.md, fitness.png

Entry point: ``harness.discovery.loop.run_discovery(DiscoveryConfig(...))``; CLI: ``harness discover``.
"""
