"""The suite interface: the ``Suite`` protocol and the values that cross it (``RunPlan`` in, ``SuiteResult``
out, ``Summary`` and ``Column`` for display). General code (bench, boards, ci, discovery) and every suite
package import this module; no suite package is imported by general code (harness.suites names them).

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
    """A board column: what every board renderer (text, Markdown, CSV, HTML, JSON) shows of a suite's
    metric, read from the board metrics of each record (``Suite.board_metrics``). The first column of a
    suite's ``board_columns`` is its primary win rate, shown with its CI and ranked; the others follow.

    ``key``: the metric (``record["metrics"][key]``); ``label``: the header; ``ci``: its 95% CI is at
    ``key + "_ci"``; ``percent``: a fraction in [0, 1] shown in %; ``count``: the metric holding how many
    seeds it counts (the cell reads "k/n [lo–hi%]", e.g. seeds that burst); ``lower_is_better``: the page
    sorts it ascending first (KL, burst rate); ``note``: what the column means (a tooltip on the page)."""

    key: str
    label: str
    ci: bool = False
    percent: bool = False
    count: str = ""
    lower_is_better: bool = False
    note: str = ""


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
    [low, high]; ``outcomes`` is the per-prompt block of the record schema (harness.hashing.make_outcomes),
    or None for a suite that does not yet produce per-prompt tables; ``thorough`` is thorough mode's
    per-learning-rate block (``RunPlan.thorough``), None otherwise; ``answers`` the answers behind the numbers
    (harness.transcript), None for a suite that does not keep them."""

    per_seed: tuple
    metrics: Mapping[str, Any]
    judge: Mapping[str, Any]
    timings: Mapping[str, float] = field(default_factory=dict)
    outcomes: Mapping[str, Any] | None = None
    thorough: Mapping[str, Any] | None = None
    answers: Mapping[str, Any] | None = None

    def __post_init__(self):
        for key in ("win_rate", "win_rate_ci"):
            if key not in self.metrics:
                raise ValueError(f"a suite result's metrics lack {key!r}")
        for name in ("per_seed", "metrics", "judge", "timings", "outcomes", "thorough", "answers"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def as_record(self) -> dict:
        """The record fields this result fills (harness.records.bench_record), as plain JSON-ready data:
        ``metrics``, ``per_seed``, ``judge``, and ``outcomes`` / ``thorough`` / ``answers`` when present."""
        out = {"metrics": thawed(self.metrics), "per_seed": thawed(self.per_seed), "judge": thawed(self.judge)}
        for optional in ("outcomes", "thorough", "answers"):
            if getattr(self, optional) is not None:
                out[optional] = thawed(getattr(self, optional))
        return out


@dataclass(frozen=True)
class SeedProcesses:
    """Seeds side by side: ``count`` worker processes, each opening its own session from ``session``
    (harness.sandbox.SessionSpec). Chosen by harness.runtime.seed_processes (the CPU policy)."""

    count: int
    session: Any


@dataclass(frozen=True)
class AdaptiveSeeds:
    """``--seeds auto``: start with ``start`` seeds, add one at a time until the headline CI's half-width
    is at most ``target`` (a win-rate fraction) or ``cap`` seeds have run."""

    target: float = 0.02
    cap: int = 10
    start: int = 3

    def __post_init__(self):
        if not 0 < self.target < 0.5 or not 1 <= self.start <= self.cap:
            raise ValueError(f"seeds auto needs 0 < target < 0.5 and 1 <= start <= cap, got {self}")


@dataclass(frozen=True)
class RunPlan:
    """How ``Suite.run_seeds`` runs the seeds, beyond which seeds and beta: one frozen value for the modes
    a suite may support. A suite that does not support a mode asked for says so in ``usage_error(plan)``.

    * ``thorough``: also train at other learning rates and pool the verdict per seed ("is the loss bad, or
      just mistuned?"); ``learning_rates`` is the grid, empty for the suite's own default grid.
    * ``adaptive``: add seeds until the headline CI is narrow (``--seeds auto``); seeds then run in order.
    * ``parallel``: seeds side by side in worker processes (chosen by the CPU policy, harness.runtime);
      never with ``adaptive`` or ``thorough``, which run seeds in one process.
    """

    thorough: bool = False
    learning_rates: tuple[float, ...] = ()
    adaptive: AdaptiveSeeds | None = None
    parallel: SeedProcesses | None = None

    def __post_init__(self):
        grid = tuple(sorted({float(x) for x in self.learning_rates}))
        if self.learning_rates and (not self.thorough or len(grid) < 2 or min(grid) <= 0):
            raise ValueError("a learning-rate grid goes with thorough mode and needs at least two distinct "
                             f"positive values, got {list(self.learning_rates)}")
        object.__setattr__(self, "learning_rates", grid)
        if self.adaptive is not None and self.thorough:
            raise ValueError("--seeds auto and thorough mode cannot be combined")
        if self.parallel is not None and (self.adaptive is not None or self.thorough):
            raise ValueError("seeds run in one process with --seeds auto or thorough mode")

    def modes(self) -> tuple[str, ...]:
        """The modes asked for, in words ("thorough mode", "--seeds auto"), for messages."""
        return tuple(name for name, on in (("thorough mode", self.thorough), ("--seeds auto", self.adaptive))
                     if on)

    def unsupported(self, suite_name: str, supported: tuple[str, ...] = ()) -> str | None:
        """The usage error of a suite that supports only the modes in ``supported`` (names from ``modes``),
        or None when every mode asked for is supported."""
        missing = [m for m in self.modes() if m not in supported]
        if not missing:
            return None
        verb = "needs" if len(missing) == 1 else "need"
        return (f"{' and '.join(missing)} {verb} a suite with the matched-KL protocol (tiny); suite {suite_name!r} "
                "has its own evaluation loop")


DEFAULT_PLAN = RunPlan()  # the suite's one protocol: no extra learning rates, a fixed number of seeds


@dataclass(frozen=True)
class FrontierPoint:
    """Where one run ends in the (KL to the reference, reward) plane: the DiscoPOP paper's reading of a
    beta sweep (IMDb, Sec. 5). KL in nats and the reward are means over seeds with their range (min, max;
    three seeds give no honest interval for a seed-level mean); win rates are fractions with 95% CIs."""

    beta: float
    seeds: int
    kl_end: float
    kl_end_range: tuple[float, float]
    reward_end: float
    reward_end_range: tuple[float, float]
    win_rate_end: float
    win_rate_end_ci: tuple[float, float]
    win_rate: float | None  # the suite's verdict (tiny: at the KL budget; None: no seed measured there)
    win_rate_ci: tuple[float, float] | None
    measured_seeds: int
    record: str  # the record's path

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class SuiteDefaults:
    """The optional parts of the ``Suite`` protocol with their defaults; suites inherit them."""

    beta_frontier = False

    def board_metrics(self, record: dict) -> dict:
        """The metrics a board shows for one of this suite's ok records (its ``board_columns`` read them):
        the record's own, plus any the suite derives from fields a board verifies (tiny: burst rates for
        records made before it recorded them, and the calm-seed reading)."""
        return dict(record.get("metrics") or {})

    def check_record(self, record: dict) -> None:
        """Check what only this suite can recompute in one of its ok records (a board refuses a record
        that contradicts itself); raises ValueError naming the field."""
        return None

    def frontier_point(self, record: dict, path: str) -> FrontierPoint:
        """Only suites with ``beta_frontier`` read their records as reward-vs-KL points."""
        raise ValueError(f"suite {record['suite']['name']!r} records are not reward-vs-KL frontier points "
                         "(harness bench --beta-sweep runs on the tiny suites)")


class Artifacts(Protocol):
    """What ``Suite.build`` returns: the suite's built inputs, loaded from their cache folder."""

    folder: Path  # the cache folder they were built into (shared read-only by jobs)


class Suite(Protocol):
    name: str
    config: Any  # a frozen dataclass; its ``as_dict()`` is saved into every record
    board_columns: tuple[Column, ...]  # metric columns a board shows for this suite, primary first
    gate_metric: str  # the metric `harness ci` gates (a key of record["metrics"] with a "_ci" twin)
    judged_outside: bool  # its GPU job writes answers that are judged outside the container
    training_threads: int | None  # torch threads of training (``train.threads``), None when not a setting
    parallel_seeds: bool  # run_seeds can train seeds side by side in processes (``RunPlan.parallel``)
    beta_frontier: bool  # ``frontier_point`` reads its records as reward-vs-KL points (``--beta-sweep``)

    def config_hash(self) -> str: ...

    def build_hash(self) -> str: ...

    def build(self, *, progress: bool = True) -> Artifacts:
        """Build (or load from the cache) the suite's artifacts; never returns a corrupted cache."""

    def describe(self) -> dict:
        """{name, description, size, hardware, expected_time, cached} for ``harness suites``."""

    def with_overrides(self, overrides: dict) -> Suite:
        """A copy with some config fields replaced (``{"train.learning_rate": 1e-4}``)."""

    def usage_error(self, plan: RunPlan = DEFAULT_PLAN, *, in_container: bool = False) -> str | None:
        """Why ``harness bench`` cannot run this suite as asked (a mode of ``plan`` it does not support:
        ``plan.unsupported``; with each seed in a job container, which has no network), or None."""

    def seed_list(self, n: int) -> list[int]:
        """The first ``n`` training seeds: the config's default seeds, then the next integers."""

    @property
    def default_seed_count(self) -> int:
        """How many seeds a run takes when none are asked for (at least 1)."""

    def screen_overrides(self, fraction: float) -> dict:
        """Overrides that train ``fraction`` of the suite's steps (a cheap first stage for discovery's
        cascade). Raises ValueError, naming the reason, when the suite cannot be shortened."""

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *,
                  progress: bool = True, plan: RunPlan = DEFAULT_PLAN) -> SuiteResult:
        """Train, generate and judge every seed with the loss in ``session``, as ``plan`` says (a plan that
        ``usage_error`` refuses is never passed); ``plan.parallel`` (only where ``parallel_seeds``) runs the
        seeds in that many worker processes, with the same numbers."""

    def frontier_point(self, record: dict, path: str) -> FrontierPoint:
        """Only where ``beta_frontier``: one ok record of this suite as a reward-vs-KL point."""

    def board_metrics(self, record: dict) -> dict:
        """The metrics a board shows for one of this suite's records (default: SuiteDefaults)."""

    def check_record(self, record: dict) -> None:
        """Suite-specific consistency checks of a record (default: none; SuiteDefaults)."""

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


