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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from harness.registry import Registry


@dataclass(frozen=True)
class SummaryRow:
    """One line of a run's summary table: a metric label, its formatted value and a note."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """How a suite presents one record: headline rows, a per-seed table and a one-line verdict."""

    rows: tuple[SummaryRow, ...]
    seed_headers: tuple[str, ...]
    seed_rows: tuple[tuple[str, ...], ...]
    verdict: str
    extra: tuple[str, ...] = ()  # further pre-rendered blocks (thorough mode's grid)


@dataclass(frozen=True)
class Column:
    """A board column taken from ``record["metrics"][key]`` (its CI at ``key + "_ci"`` when ``ci``)."""

    key: str
    label: str
    ci: bool = False


def _frozen(value):
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def thawed(value):
    """A plain JSON-ready copy (dicts and lists) of a frozen ``SuiteResult`` field."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value


@dataclass(frozen=True)
class SuiteResult:
    """What ``Suite.run_seeds`` returns; deeply frozen (mappings become read-only, lists tuples).

    ``metrics`` always holds the suite's primary ``win_rate`` (a share in [0, 1]) and ``win_rate_ci``
    [low, high]; ``outcomes`` is the per-prompt block of the record schema (harness.records), or None
    for a suite that does not yet produce per-prompt tables."""

    per_seed: tuple
    metrics: Mapping[str, Any]
    judge: Mapping[str, Any]
    timings: Mapping[str, float] = field(default_factory=dict)
    outcomes: Mapping[str, Any] | None = None

    def __post_init__(self):
        for key in ("win_rate", "win_rate_ci"):
            if key not in self.metrics:
                raise ValueError(f"a suite result's metrics lack {key!r}")
        for name in ("per_seed", "metrics", "judge", "timings", "outcomes"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


class Artifacts(Protocol):
    """What ``Suite.build`` returns: the suite's built inputs, loaded from their cache folder."""

    folder: Path  # the cache folder they were built into (shared read-only by jobs)


@dataclass(frozen=True)
class SeedProcesses:
    """Seeds side by side: ``count`` worker processes, each opening its own session from ``session``
    (harness.sandbox.SessionSpec). Chosen by harness.runtime.seed_processes (the CPU policy)."""

    count: int
    session: Any


class Suite(Protocol):
    name: str
    config: Any  # a frozen dataclass; its ``as_dict()`` is saved into every record
    board_columns: tuple[Column, ...]  # metric columns a board shows for this suite, primary first
    gate_metric: str  # the metric `harness ci` gates (a key of record["metrics"] with a "_ci" twin)
    judged_outside: bool  # its GPU job writes answers that are judged outside the container
    training_threads: int | None  # torch threads of training (``train.threads``), None when not a setting
    parallel_seeds: bool  # run_seeds can train seeds side by side in processes (``parallel``)
    adaptive_seeds: bool  # run_seeds can add seeds until a CI is narrow enough (``--seeds auto``)
    beta_frontier: bool  # its records give a reward-vs-KL frontier point (``--beta-sweep``)

    def config_hash(self) -> str: ...

    def build_hash(self) -> str: ...

    def build(self, *, progress: bool = True) -> Artifacts:
        """Build (or load from the cache) the suite's artifacts; never returns a corrupted cache."""

    def describe(self) -> dict:
        """{name, description, size, hardware, expected_time, cached} for ``harness suites``."""

    def with_overrides(self, overrides: dict) -> Suite:
        """A copy with some config fields replaced (``{"train.learning_rate": 1e-4}``)."""

    def usage_error(self, *, thorough: bool = False, in_container: bool = False) -> str | None:
        """Why ``harness bench`` cannot run this suite as asked (in thorough mode; with each seed in a job
        container, which has no network), or None."""

    def seed_list(self, n: int) -> list[int]:
        """The first ``n`` training seeds: the config's default seeds, then the next integers."""

    @property
    def default_seed_count(self) -> int:
        """How many seeds a run takes when none are asked for (at least 1)."""

    def screen_overrides(self, fraction: float) -> dict:
        """Overrides that train ``fraction`` of the suite's steps (a cheap first stage for discovery's
        cascade). Raises ValueError, naming the reason, when the suite cannot be shortened."""

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *,
                  progress: bool = True, parallel: SeedProcesses | None = None) -> SuiteResult:
        """Train, generate and judge every seed with the loss in ``session``; with ``parallel`` (only
        where ``parallel_seeds``), in that many worker processes, with the same numbers."""

    def summary(self, record: dict) -> Summary:
        """The readable summary of one of this suite's ok records."""

    def seed_job(self, artifacts, session, seed: int, beta: float, *, device: str, gpus: int = 1,
                 work_dir: Path | None = None) -> dict:
        """One seed where it is isolated (a job container, ``harness bench --executor docker``): train,
        generate, and judge when the judge is code; a JSON-ready dict that ``pool_seed_jobs`` reads
        (no host paths: the controller does not share the job's filesystem). ``work_dir``: where large
        files (a saved policy) go, the job's output folder in a container (not its RAM-backed /tmp)."""

    def pool_seed_jobs(self, artifacts, outputs: list[dict], seeds: list[int]) -> SuiteResult:
        """In the controller: the seeds' ``seed_job`` outputs (for ``seeds``, in order) as one result, with
        the same numbers as ``run_seeds`` on those seeds; a suite judged outside judges here. The outputs
        come out of containers (untrusted): a wrong shape, a seed other than the one asked for, or another
        judge raises ValueError naming it."""


def default_seed_list(config_seeds, n: int) -> list[int]:
    base = list(config_seeds)
    start = max(base, default=-1) + 1
    return (base + list(range(start, start + n)))[:n]


def shorter_training(name: str, steps: int, every: int, fraction: float) -> dict:
    """``{"train.steps": k}``: ``fraction`` of ``steps``, a whole number of ``every``-step checkpoints (at
    least one). Raises ValueError when that is not shorter than ``steps``."""
    short = max(every, int(steps * fraction) // every * every)
    if short >= steps:
        raise ValueError(f"suite {name!r} trains {steps} steps (checkpoints every {every}): too few for a shorter "
                         "screen; use the plain bench evaluator")
    return {"train.steps": short}


SUITES: Registry = Registry("suite")


def get_suite(name: str) -> Suite:
    return SUITES.get(name)


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
