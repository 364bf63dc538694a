"""Pytest plugin: the ``sandbox_backend`` fixture, one parameter per sandboxing backend.

``jail`` needs bubblewrap; ``docker`` needs a dockerd this test run can start and an image it builds
locally without any registry (see tests/docker_daemon.py). A backend that cannot run here is
skipped with the reason; the in-process ``none`` backend is never part of the adversarial suite.
"""

from __future__ import annotations

import sys

import pytest

from harness.sandbox import SandboxLimits


@pytest.fixture(
    params=[pytest.param("jail", marks=pytest.mark.jail), pytest.param("docker", marks=pytest.mark.docker)]
)
def sandbox_backend(request):
    """(backend name, base SandboxLimits) for each sandboxing backend usable here."""
    if request.param == "jail":
        from harness.sandbox.jail import usable

        ok, reason = usable()
        if not ok:
            pytest.skip(f"jail backend unusable: {reason}")
        return "jail", SandboxLimits()
    image = request.getfixturevalue("sandbox_docker_image")
    # the test image keeps the interpreter at this host's path (tests/docker_daemon.py)
    return "docker", SandboxLimits(docker_image=image, docker_python=sys.executable)
