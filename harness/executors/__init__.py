"""Where work runs: one registry of executors, used by ``harness bench`` (a loss's seeds) and ``harness
discover`` (its candidates), so both commands take their ``--executor`` choices and their help from it.

An ``Executor`` names up to two entry points, as lazy "module:attribute" factories (nothing is imported
until a command uses the executor):

* ``bench``: ``(loss_path, *, containers, **run_bench options) -> harness.bench.StoredRun``: how
  ``harness bench --executor NAME`` runs and keeps one bench (local processes, or a container per seed);
* ``candidates``: ``(DiscoveryConfig) -> CandidatePool``: how ``harness discover --executor NAME``
  evaluates candidates (local worker processes, a container per candidate, or Ray tasks).

An executor without one of them is refused by that command with the reason. Modules: ``runners`` (the
bench entry points), ``container_bench`` (``--executor docker``'s per-seed containers), ``container_runner``
(one job's container from start to status), ``hardening`` (the ``docker run`` flags and seccomp allowlist),
``results`` (checks on what a container wrote); the commands' shared click options are in
harness.commands.options; discovery's pools are in ``harness.discovery.pools`` and
``harness.discovery.containers``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.registry import Registry, lazy


class CandidatePool(Protocol):
    """Evaluations of discovery candidates, wherever they run: jobs go in, (candidate id, result) pairs come
    back as they finish (harness.discovery.loop)."""

    def submit(self, job) -> None: ...

    def in_flight(self) -> int: ...

    def poll(self, timeout: float) -> list[tuple[int, dict]]: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class Executor:
    """One place work can run: its lazy entry points for ``bench`` and for discovery's ``candidates``
    (None: this executor does not serve that command; ``refusal`` says why and what to use)."""

    bench: str | None
    candidates: str | None
    refusal: str = ""

    def bench_runner(self, name: str, containers=None) -> Callable:
        """``fn(loss_path, **run_bench options) -> StoredRun``; ValueError when ``bench`` does not use it."""
        if self.bench is None:
            raise ValueError(f"--executor {name} {self.refusal}")
        return lazy(self.bench, containers=containers)

    def candidate_pool(self, name: str, config) -> CandidatePool:
        """The pool that evaluates ``config``'s candidates; ValueError when discovery does not use it."""
        if self.candidates is None:
            raise ValueError(f"--executor {name} {self.refusal}")
        return lazy(self.candidates)(config)


EXECUTORS: Registry[Executor] = Registry("executor")
EXECUTORS.add("local", Executor("harness.executors.runners:bench_locally",
                                "harness.discovery.pools:LocalExecutor.from_config"),
              "worker processes on this machine (seeds side by side; one candidate per worker)")
EXECUTORS.add("docker", Executor("harness.executors.runners:bench_in_containers",
                                 "harness.discovery.containers:DockerExecutor.from_config"),
              "one hardened container of the job image per seed (bench) or per candidate (discover)")
EXECUTORS.add("ray", Executor(None, "harness.discovery.pools:RayExecutor.from_config",
                              "runs discovery's candidates as Ray tasks; a bench's seeds run with --executor "
                              "local or docker"),
              "Ray tasks on a local Ray or a cluster (discover; --in-container for a container per task)")


def bench_runner(name: str, containers=None) -> Callable:
    """``harness bench --executor NAME``'s runner (see ``Executor.bench_runner``)."""
    return EXECUTORS.get(name).bench_runner(name, containers)


def candidate_pool(name: str, config) -> CandidatePool:
    """``harness discover --executor NAME``'s pool for ``config`` (see ``Executor.candidate_pool``)."""
    return EXECUTORS.get(name).candidate_pool(name, config)


def executor_names(command: str) -> list[str]:
    """The executors ``command`` ("bench" or "discover") can use, for its ``--executor`` choices."""
    field = "bench" if command == "bench" else "candidates"
    return [n for n in EXECUTORS.names() if getattr(EXECUTORS.get(n), field) is not None]
