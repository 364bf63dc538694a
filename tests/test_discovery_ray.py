"""The Ray executor on a local Ray instance (ray.init on this machine), with the fake evaluator."""

from __future__ import annotations

import pytest

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.loop import run_discovery

pytestmark = pytest.mark.ray


def test_ray_executor_runs_evaluations_as_tasks(tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'harness[ray]'")
    config = DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=8, parallel=2, executor="ray", progress=False,
                             eval=EvalSettings(evaluator="fake", fake_seconds=0.2))
    try:
        result = run_discovery(config)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not ray.is_initialized()  # the executor shut down the Ray instance it started
    assert result.stop_reason == "budget of 8 candidates reached"
    archive = Archive(result.out_dir / "archive.sqlite")
    cands = [c for c in archive.all() if c.status != "duplicate"]
    assert len(cands) == 8 and not archive.pending()
    assert all(c.eval_seconds is not None and c.eval_seconds >= 0.2 for c in cands)  # ran the task
    assert all((c.status == "ok") == (c.fitness is not None) for c in cands)
    # Ray tasks write no result files: the controller records results as they arrive.
    assert not list((result.out_dir / "results").iterdir())
