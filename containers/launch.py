"""Host side: the hardened ``docker run`` of one bench job (the image built from the root Dockerfile).

    python containers/launch.py --image harness-job:latest --spec job.json --loss my_loss.py \
        --out runs/job1 --models ~/.cache/huggingface --data ~/.cache/harness [--gpus device=0]

The flags, mounts and the jail jobs' seccomp allowlist live in ``harness.executors.hardening`` (what
``harness bench|discover --executor docker`` use); this script runs one job by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness.executors.hardening import (  # noqa: F401  (re-exported for callers of this script's module)
    JAIL_EXTRA_SYSCALLS,
    JOB_UID,
    JobLimits,
    container_spec,
    docker_run_args,
    jail_seccomp_profile,
    write_jail_seccomp_profile,
)


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
    spec = container_spec(json.loads(a.spec.read_text()))
    staged.write_text(json.dumps(spec, indent=1))
    profile = write_jail_seccomp_profile(a.out) if spec.get("sandbox", "jail") == "jail" else None
    cmd = docker_run_args(image=a.image, spec=staged, loss=a.loss, out=a.out, models=a.models, data=a.data,
                          limits=JobLimits(gpus=a.gpus, runtime=a.runtime), jail_seccomp=profile)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
