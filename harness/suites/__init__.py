"""Benchmark suites: a frozen config, cached artifacts built once, and a description.

``SUITES`` maps a name to a suite object. Every suite implements the ``Suite`` protocol, so that
``harness bench``, the run store, boards, ``harness ci``, ``harness compare`` and discovery run and
render any suite the same way: suite config -> build/load cached artifacts -> ``run_seeds`` (train ->
generate -> judge, the suite's own evaluation) -> a frozen ``SuiteResult`` -> record. What a suite
shows (summary rows, per-seed table, board columns, the metric ``harness ci`` gates) comes from the
suite itself, so no caller needs to know a suite's metric names.

``config_hash()`` covers the WHOLE config (it goes into every record: a change of any training or
evaluation setting changes results). The artifact cache is keyed by ``build_hash()``, the part of the
config that determines the artifacts, so that changing e.g. the learning rate reuses the cache.
"""

from __future__ import annotations

from harness.registry import Registry
from harness.suites.base import (  # noqa: F401  (the interface, re-exported: import it from here)
    DEFAULT_PLAN,
    AdaptiveSeeds,
    Artifacts,
    Column,
    FrontierPoint,
    RunPlan,
    SeedProcesses,
    Suite,
    SuiteDefaults,
    SuiteResult,
    Summary,
    SummaryRow,
    default_seed_list,
    shorter_training,
    thawed,
)

SUITES: Registry = Registry("suite")


def get_suite(name: str) -> Suite:
    return SUITES.get(name)


def add_user_suite(spec_path):
    """``harness suites add``: validate a user's suite spec, save it under HARNESS_HOME and register it in
    this process; returns (its config, the saved file). A built-in suite's name is refused (SpecError)."""
    from harness.suites.own import OwnSuite
    from harness.suites.own.add import add

    taken = frozenset(n for n in SUITES if not isinstance(SUITES.get(n), OwnSuite))
    config, path = add(spec_path, taken)
    SUITES.add(config.name, OwnSuite(config), f"your suite ({path.name})", replace=True)
    return config, path


def _register_builtin() -> None:
    from harness.suites.tiny import TinyConfig, TinySuite

    SUITES.add("tiny", TinySuite(), "toy IMDb replica on a synthetic review language (v2: beta 0.5); any CPU, ~1.5 min")
    SUITES.add("tiny-beta0.05", TinySuite(TinyConfig(beta=0.05), name="tiny-beta0.05"),
               "the tiny suite at the DiscoPOP paper's IMDb beta 0.05 (its own board); same build as tiny")
    _register_real()


def _register_real() -> None:
    """The real suites: SmolLM2 on CPU, the paper's setups on GPU hosts (harness.suites.paper)."""
    from harness.suites.paper import PAPER_SUITES, PaperSuite
    from harness.suites.smol import SmolSuite

    SUITES.add("smol", SmolSuite(), "SmolLM2-135M-Instruct on verifiable instructions; 2-core CPU, ~12 min")
    for config in PAPER_SUITES:
        SUITES.add(config.name, PaperSuite(config), f"{config.description}; {config.hardware}")
    from harness.suites.own import register_user_suites

    register_user_suites(SUITES)  # a user's own data and model (`harness suites add`, docs/own-data.md)


_register_builtin()
