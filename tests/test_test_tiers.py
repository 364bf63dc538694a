"""The test tiers' own rules: every test gets a timeout from its tier (tests/conftest.py), and the tiers
named in pyproject.toml are the ones the timeouts and scripts/test.sh know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import FAST_TIMEOUT, SHARED_FIXTURE_TIERS, TIER_TIMEOUTS, shared_tier, tier_timeout, worker_cpus

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_gets_a_timeout_from_its_tier():
    assert tier_timeout(set(), explicit=False) == FAST_TIMEOUT
    assert tier_timeout({"slow", "parametrize"}, explicit=False) == TIER_TIMEOUTS["slow"]
    assert tier_timeout({"slow", "docker"}, explicit=False) == TIER_TIMEOUTS["docker"]  # the longest tier
    assert tier_timeout({"slow", "timeout"}, explicit=True) is None  # its own marker wins


def test_every_marker_of_pyproject_has_a_tier_timeout():
    block = re.search(r"^markers = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M).group(1)
    markers = set(re.findall(r'^\s*"([a-z]+):', block, re.M))
    assert markers == set(TIER_TIMEOUTS), "add the new tier to TIER_TIMEOUTS in tests/conftest.py"


def test_this_test_runs_under_its_tier_timeout(request):
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (FAST_TIMEOUT,)


@pytest.mark.timeout(7)
def test_an_explicit_timeout_is_kept(request):
    assert request.node.get_closest_marker("timeout").args == (7,)


def test_xdist_workers_split_the_cpus_and_never_share_one():
    assert worker_cpus("gw0", 2, [0, 1]) == [0] and worker_cpus("gw1", 2, [0, 1]) == [1]
    shares = [worker_cpus(f"gw{k}", 3, list(range(8))) for k in range(3)]
    assert sorted(c for share in shares for c in share) == list(range(8))  # every CPU, each once
    assert worker_cpus("gw1", 4, [0, 1]) == [0, 1]  # more workers than CPUs: no pinning
    assert worker_cpus("gw0", 1, [0, 1]) == [0, 1]


def test_shared_fixture_tiers_are_tiers():
    assert set(SHARED_FIXTURE_TIERS) <= set(TIER_TIMEOUTS)


def test_test_sh_runs_one_worker_per_cpu_with_tier_groups():
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert '-n "$workers" --dist loadgroup' in script and "cpu_budget" in script


def test_tests_of_a_shared_fixture_tier_form_one_group():
    assert shared_tier({"slow", "docker", "ray"}) == "docker" and shared_tier({"api"}) == "api"
    assert shared_tier({"slow", "jail"}) is None
