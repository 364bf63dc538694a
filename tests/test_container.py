"""The bench-job container: spec checks, the hardened docker command, the entrypoint on a tiny job
(in a subprocess here, and inside a container built from a local base in the docker tier)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOSS = ROOT / "losses" / "dpo.py"
# A tiny-suite job small enough for a test (~1 min on 2 cores): few pairs, short SFT, 8 DPO steps.
TINY_OVERRIDES = {"data.train_prompts": 64, "data.eval_prompts": 16, "data.pairs": 128, "sft.steps": 40,
                  "sft.batch_size": 16, "train.steps": 8, "train.batch_size": 16, "train.checkpoint_every": 8,
                  "eval.sample.samples_per_prompt": 2}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"containers_{name}", ROOT / "containers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


job = _load("job")
launch = _load("launch")


def test_spec_errors_are_job_errors(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"suite": "tiny", "loss": "x.py", "output": "o", "gpu": 1}))
    with pytest.raises(job.JobError, match="unknown job spec key"):
        job.read_spec(bad)
    bad.write_text(json.dumps({"suite": "tiny"}))
    with pytest.raises(job.JobError, match="lacks"):
        job.read_spec(bad)
    bad.write_text(json.dumps({"suite": "nope", "loss": str(LOSS), "output": str(tmp_path / "o")}))
    assert job.main(["job.py", str(bad)]) == job.EXIT_JOB
    with pytest.raises(job.JobError, match="cannot read"):
        job.read_spec(tmp_path / "missing.json")


def test_docker_command_is_hardened_and_mounts_read_only(tmp_path):
    for p in ("spec.json", "loss.py"):
        (tmp_path / p).write_text("{}")
    args = launch.docker_run_args(image="img", spec=tmp_path / "spec.json", loss=tmp_path / "loss.py",
                                  out=tmp_path, models=tmp_path, data=tmp_path,
                                  limits=launch.JobLimits(gpus="device=0"))
    line = " ".join(args)
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges",
                 "--pids-limit", "--memory-swap", "--ulimit core=0", "--gpus device=0", "--shm-size",
                 "--pull never", f"--user {launch.JOB_UID}:{launch.JOB_UID}"):
        assert flag in line, flag
    assert "target=/models,readonly" in line and "target=/data,readonly" in line
    assert "target=/job/loss.py,readonly" in line and "target=/out " in line + " "
    assert not any("KEY" in a or "TOKEN" in a for a in args)  # no secrets pass in
    assert args[-2:] == ["img", "/job/spec.json"]
    assert launch.container_spec({"suite": "s", "loss": "/host/l.py", "output": "/host/o"})["loss"] == "/job/loss.py"


def _tiny_spec(out: str, loss: str) -> dict:
    # The built-in DPO loss is trusted; an untrusted loss uses the jail (bubblewrap) in the GPU image.
    return {"suite": "tiny", "loss": loss, "output": out, "seed": 0, "overrides": TINY_OVERRIDES,
            "sandbox": "none", "trust": True, "device": "cpu"}


@pytest.mark.slow
def test_entrypoint_runs_a_tiny_job(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_tiny_spec(str(tmp_path / "out"), str(LOSS))))
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, str(ROOT / "containers" / "job.py"), str(spec)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == job.EXIT_OK, r.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "ok" and result["suite"]["name"] == "tiny"
    m = result["candidate"]["metrics"]
    assert m["win_rate_ci"][0] <= m["win_rate"] <= m["win_rate_ci"][1]


@pytest.mark.slow
def test_entrypoint_reports_a_broken_loss_as_a_candidate_failure(tmp_path):
    loss = tmp_path / "broken.py"
    loss.write_text("def loss(policy_chosen_logps, beta):\n    return undefined_name\n")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_tiny_spec(str(tmp_path / "out"), str(loss))))
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, str(ROOT / "containers" / "job.py"), str(spec)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == job.EXIT_CANDIDATE, r.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] != "ok" and result["error"]
