"""Shared pytest configuration. Tier fixtures live in their own modules, listed here.

Every test has a timeout (pytest-timeout; a hung test fails with its traceback instead of eating the CI
budget): ``FAST_TIMEOUT`` in the fast tier, ``TIER_TIMEOUTS`` in the opt-in tiers (the longest of a
test's tiers), unless the test states its own with ``@pytest.mark.timeout(N)``. The timeout covers the
test's fixtures too (a session fixture that builds an image or compiles a server counts against the first
test that uses it). How long each tier takes is in docs/testing.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins: list[str] = ["llm_server", "sandbox_backends", "docker_daemon"]

FAST_TIMEOUT = 300  # seconds; the slowest fast test takes ~15 s on an idle 2-core machine
# seconds per opt-in tier: training and real models (slow, ray, gpu, vllm); docker builds the job image
# (docker import of a root filesystem, up to 15 min) in its first test; api compiles llama.cpp once (~5 min)
TIER_TIMEOUTS = {"slow": 900, "jail": 900, "browser": 900, "ray": 900, "gpu": 900, "vllm": 900,
                 "api": 1200, "docker": 2400}


def tier_timeout(markers: set[str], explicit: bool) -> int | None:
    """The timeout a test gets from its tiers, or None when it states its own."""
    if explicit:
        return None
    return max((TIER_TIMEOUTS[m] for m in markers if m in TIER_TIMEOUTS), default=FAST_TIMEOUT)


# Tiers whose tests share one expensive session fixture (a dockerd and its image, a compiled server, a
# cluster) run on one xdist worker, so the fixture is made once and never twice at the same time.
# pytest-xdist's own xdist_group mark does not group under pytest 9 (it renames a node id attribute
# pytest 9 no longer reads), so each worker writes the tier of every test it collected to a file and
# the controller's scheduler (TierScheduling) reads them: one work unit per tier, every other test
# its own unit, as --dist loadgroup would.
SHARED_FIXTURE_TIERS = ("docker", "api", "ray", "browser", "vllm", "gpu")
TIER_FILES_ENV = "HARNESS_TEST_TIER_FILES"


def shared_tier(markers: set[str]) -> str | None:
    """The shared-fixture tier a test with these markers belongs to (the first listed), or None."""
    return next((t for t in SHARED_FIXTURE_TIERS if t in markers), None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    tiers = {}
    for item in items:
        markers = {m.name for m in item.iter_markers()}
        seconds = tier_timeout(markers, "timeout" in markers)
        if seconds is not None:
            item.add_marker(pytest.mark.timeout(seconds))
        tier = shared_tier(markers)
        if tier is not None:
            tiers[item.nodeid] = tier
    prefix = os.environ.get(TIER_FILES_ENV)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if prefix and worker:
        tmp = Path(f"{prefix}.{worker}.tmp")
        tmp.write_text(json.dumps(tiers))
        os.replace(tmp, f"{prefix}.{worker}")


def pytest_configure(config):
    controller = os.environ.get("PYTEST_XDIST_WORKER") is None and config.pluginmanager.hasplugin("xdist")
    if controller and config.getvalue("dist") == "loadgroup":  # only a grouped run needs the tier files
        folder = Path(tempfile.mkdtemp(prefix="harness-test-tiers-"))
        os.environ[TIER_FILES_ENV] = str(folder / "tiers")  # the workers inherit it


def pytest_unconfigure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") is None and os.environ.get(TIER_FILES_ENV):
        shutil.rmtree(Path(os.environ.pop(TIER_FILES_ENV)).parent, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class TierScheduling(LoadGroupScheduling):
        """--dist loadgroup with the tiers the workers wrote (see above) as the groups."""

        _tiers: dict | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._tiers is None:
                prefix = os.environ.get(TIER_FILES_ENV, "")
                self._tiers = {}
                for path in Path(prefix).parent.glob(Path(prefix).name + ".gw*"):
                    if not path.name.endswith(".tmp"):
                        self._tiers.update(json.loads(path.read_text()))
            return self._tiers.get(nodeid) or super()._split_scope(nodeid)

    return TierScheduling(config, log)


def worker_cpus(worker: str, n_workers: int, cpus: list[int]) -> list[int]:
    """The CPUs xdist worker ``gwK`` of ``n_workers`` keeps: every n-th of the allowed CPUs, from the
    K-th (each worker its own share when there are at least as many CPUs as workers; all of them else)."""
    index = int(worker.removeprefix("gw"))
    if n_workers < 2 or len(cpus) < n_workers:
        return cpus
    return cpus[index % n_workers::n_workers]


# The CPUs the test run was given, before an xdist worker pins itself to its share: machine-wide services
# a test starts, such as dockerd (tests/docker_daemon.py), get all of them.
ALL_CPUS_ENV = "HARNESS_TEST_ALL_CPUS"
if hasattr(os, "sched_getaffinity"):
    os.environ.setdefault(ALL_CPUS_ENV, ",".join(str(c) for c in sorted(os.sched_getaffinity(0))))


def _pin_xdist_worker() -> None:
    """Under pytest-xdist (scripts/test.sh runs ``-n 2``), pin this worker and everything it starts
    to its own CPUs. The harness sizes its seed processes by the CPUs it may use (harness.runtime's
    cpu_budget reads the affinity mask), so two workers on two cores never run more than one
    single-threaded training process per core: the CPU policy holds for the test run as a whole."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    mine = worker_cpus(worker, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), cpus)
    if mine != cpus:
        os.sched_setaffinity(0, mine)


_pin_xdist_worker()


# The board key that seals verifications (harness.seal) comes from the environment in every
# test, set before any test module builds a record: no test writes a key file into the real home.
os.environ.setdefault("HARNESS_BOARD_KEY", "test-board-key-0123456789abcdef0123456789abcdef")
