"""Registries built from lazy factories: a name resolves without its module imported first, and the
implementations never register themselves; one executor registry serves bench and discover."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.registry import Registry, lazy

ROOT = Path(__file__).resolve().parent.parent


def test_lazy_imports_on_first_call_and_passes_its_arguments():
    factory = lazy("fractions:Fraction", 3)
    assert factory.target == "fractions:Fraction" and factory(4) == __import__("fractions").Fraction(3, 4)
    assert lazy("pathlib:Path.cwd")() == Path.cwd()  # a dotted attribute (a classmethod)
    with pytest.raises(ValueError, match="module:attribute"):
        lazy("fractions.Fraction")


def test_a_lazy_entry_that_does_not_exist_fails_when_used_not_when_registered():
    reg = Registry("thing")
    reg.add("ghost", lazy("harness.no_such_module:Thing"))
    with pytest.raises(ModuleNotFoundError):
        reg.get("ghost")()


@pytest.mark.timeout(60)
def test_every_registry_resolves_in_a_fresh_process_without_importing_the_implementations_first():
    code = """
import sys
from harness.judges import JUDGES
assert "harness.suites.tiny" not in sys.modules
judge = JUDGES.get("gold-tiny")()
assert judge.id == "gold-tiny" and "harness.suites.tiny.gold" in sys.modules
assert JUDGES.get("ifeval")().id == "ifeval"
from harness.discovery.proposer import PROPOSERS
from harness.generation import GENERATORS
from harness.executors import EXECUTORS
assert "harness.discovery.evolve" not in sys.modules and "harness.generation.hf" not in sys.modules
assert {"pairwise-weighted", "pairwise-verdict", "single-grade"} <= set(JUDGES.names())
assert set(PROPOSERS.names()) == {"evolve", "llm", "random"}
assert set(GENERATORS.names()) >= {"hf", "vllm", "vllm-server"}
assert set(EXECUTORS.names()) == {"local", "docker", "ray"}
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=55,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_one_executor_registry_serves_bench_and_discover():
    from harness.executors import bench_runner, candidate_pool, executor_names

    assert executor_names("bench") == ["docker", "local"]
    assert executor_names("discover") == ["docker", "local", "ray"]
    with pytest.raises(ValueError, match="--executor ray runs discovery's candidates.*local or docker"):
        bench_runner("ray")
    assert bench_runner("local").target == "harness.executors.runners:bench_locally"
    with pytest.raises(KeyError, match="Did you mean 'docker'"):
        candidate_pool("dockr", None)


def test_the_commands_take_their_executor_choices_from_the_registry():
    from click.testing import CliRunner

    from harness.cli import main

    refused = CliRunner().invoke(main, ["bench", "--loss", str(ROOT / "losses" / "dpo.py"), "--executor", "ray"])
    assert refused.exit_code == 2 and "'docker', 'local'" in refused.output
    help_text = CliRunner().invoke(main, ["discover", "--help"]).output
    assert "[docker|local|ray]" in help_text
