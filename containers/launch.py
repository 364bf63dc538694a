"""Host side: the hardened ``docker run`` of one bench job (the image built from the root Dockerfile).

    python containers/launch.py --image harness-job:latest --spec job.json --loss my_loss.py \
        --out runs/job1 --models ~/.cache/huggingface --data ~/.cache/harness [--gpus device=0]

The candidate's container gets no network, a read-only root, a private /tmp, dropped capabilities,
no new privileges, a non-root user, process/memory limits, the GPU(s) it is given, the model cache
and suite data mounted READ-ONLY, the loss file and spec read-only, and only the output folder
writable. No environment from the host passes in (no API keys: the judge runs outside, afterwards).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

JOB_UID = 10001  # the image's non-root user


@dataclass(frozen=True)
class JobLimits:
    memory: str = "96g"
    shm: str = "16g"  # NCCL and dataloaders need more than docker's 64 MB default
    pids: int = 4096
    cpus: int = 16
    gpus: str = ""  # docker --gpus value, e.g. "device=0" or "all"; "" = CPU job
    runtime: str = ""  # e.g. "runsc" (gVisor, with nvproxy for GPUs)


def docker_run_args(*, image: str, spec: Path, loss: Path, out: Path, models: Path | None, data: Path | None,
                    limits: JobLimits, name: str = "") -> list[str]:
    args = ["docker", "run", "--rm", "--pull", "never", "--network", "none", "--read-only",
            "--tmpfs", "/tmp:rw,nosuid,nodev,size=8g", "--pids-limit", str(limits.pids),
            "--memory", limits.memory, "--memory-swap", limits.memory, "--cpus", str(limits.cpus),
            "--shm-size", limits.shm, "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", f"{JOB_UID}:{JOB_UID}", "--ulimit", "core=0",
            "--env", "HF_HUB_OFFLINE=1", "--env", "HF_HOME=/models",
            # the built suite cache when mounted (read-only); else built inside, on the private tmpfs
            "--env", f"HARNESS_HOME={'/data' if data is not None else '/tmp/harness'}",
            "--env", "HOME=/tmp",  # vLLM / triton / torch caches go to the private tmpfs
            "--mount", f"type=bind,source={spec.resolve()},target=/job/spec.json,readonly",
            "--mount", f"type=bind,source={loss.resolve()},target=/job/loss.py,readonly",
            "--mount", f"type=bind,source={out.resolve()},target=/out"]
    if models is not None:
        args += ["--mount", f"type=bind,source={models.resolve()},target=/models,readonly"]
    if data is not None:
        args += ["--mount", f"type=bind,source={data.resolve()},target=/data,readonly"]
    if limits.gpus:
        args += ["--gpus", limits.gpus]
    if limits.runtime:
        args += ["--runtime", limits.runtime]
    if name:
        args += ["--name", name]
    return [*args, image, "/job/spec.json"]


def container_spec(spec: dict) -> dict:
    """The spec as the container sees it: fixed in-container paths for the loss and the output."""
    return {**spec, "loss": "/job/loss.py", "output": "/out"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run one bench job in the hardened job container.")
    ap.add_argument("--image", required=True)
    ap.add_argument("--spec", required=True, type=Path)
    ap.add_argument("--loss", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--models", type=Path, help="Hugging Face cache with the suite's model (read-only)")
    ap.add_argument("--data", type=Path, help="HARNESS_HOME with the built suite cache (read-only)")
    ap.add_argument("--gpus", default="", help="docker --gpus value, e.g. device=0")
    ap.add_argument("--runtime", default="")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    staged = a.out / "spec.json"
    staged.write_text(json.dumps(container_spec(json.loads(a.spec.read_text())), indent=1))
    cmd = docker_run_args(image=a.image, spec=staged, loss=a.loss, out=a.out, models=a.models, data=a.data,
                          limits=JobLimits(gpus=a.gpus, runtime=a.runtime))
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
