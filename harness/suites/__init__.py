"""Benchmark suites: a frozen config, cached artifacts built once, and a description.

``SUITES`` maps a name to a suite object. Every suite follows the ``Suite`` protocol, so that
``harness bench`` runs one pipeline for all of them: suite config -> build/load cached artifacts ->
train per seed -> generate -> judge -> record.

``config_hash()`` covers the WHOLE config (it goes into every record: a change of any training or
evaluation setting changes results). The artifact cache is keyed by ``build_hash()``, the part of the
config that determines the artifacts, so that changing e.g. the learning rate reuses the cache.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.registry import Registry


class Suite(Protocol):
    name: str
    config: Any  # a frozen dataclass; its ``as_dict()`` is saved into every record

    def config_hash(self) -> str: ...

    def build_hash(self) -> str: ...

    def build(self, *, progress: bool = True) -> Any:
        """Build (or load from the cache) the suite's artifacts; never returns a corrupted cache."""

    def describe(self) -> dict:
        """{name, description, size, hardware, expected_time, cached} for ``harness suites``."""

    def with_overrides(self, overrides: dict) -> Suite:
        """A copy with some config fields replaced (``{"train.learning_rate": 1e-4}``)."""


SUITES: Registry = Registry("suite")


def get_suite(name: str) -> Suite:
    return SUITES.get(name)


def _register_builtin() -> None:
    from harness.suites.tiny import TinySuite

    SUITES.add("tiny", TinySuite(), "toy IMDb replica on a synthetic review language; any CPU, ~1 min")
    _register_real()


def _register_real() -> None:
    """The real suites: SmolLM2 on CPU, the paper's setups on GPU hosts (harness.suites.paper)."""
    from harness.suites.paper import PAPER_SUITES, PaperSuite
    from harness.suites.smol import SmolSuite

    SUITES.add("smol", SmolSuite(), "SmolLM2-135M-Instruct on verifiable instructions; 2-core CPU, ~12 min")
    for config in PAPER_SUITES:
        SUITES.add(config.name, PaperSuite(config), f"{config.description}; {config.hardware}")


_register_builtin()
