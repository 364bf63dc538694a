"""Discovery mode: search for new preference-optimization losses, as in the DiscoPOP paper.

One module per role in the loop:

    proposer.py   the Proposer interface, its registry, parent selection (rank x children penalty)
    evolve.py     the offline proposer: mutation/crossover of expression trees (expressions.py)
    random_search.py  the control: random trees over the same expression space
    llm.py        the LLM proposer: the paper's protocol, prompt templates in templates/
    dedupe.py     near-duplicate detection (normalised syntax tree + constants, hashed)
    evaluator.py  check then bench, in the sandbox; the ``fake`` test double
    cascade.py    the ``cascade`` evaluator: a short-run screen before the full bench
    candidate_job.py  ``run_job``, what a worker runs for one candidate; the evaluators by name (``--evaluator``)
    rebench.py    benches outside the loop (fresh seeds, held-out suites), with the fake's records
    finalize.py   winner's-curse correction: top-k re-benched on fresh seeds against DPO
    transfer.py   the re-evaluated best against DPO on a held-out suite
    summary.py    report.json and the re-evaluation / transfer sections of report.md
    pools.py      where candidates are evaluated: local worker processes or Ray tasks
    containers.py the same in a hardened container per candidate (``--executor docker``)
    archive.py    every candidate in SQLite (resume after kill -9)
    loop.py       proposal queue + evaluation queue, budgets, resume
    outputs.py    candidates.jsonl, best_loss.py, report.md, fitness.png

Entry point: ``harness.discovery.loop.run_discovery(DiscoveryConfig(...))``; CLI: ``harness discover``.
"""
