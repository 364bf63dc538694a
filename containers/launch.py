"""Host side: the hardened ``docker run`` of one bench job (the image built from the root Dockerfile).

    python containers/launch.py --image harness-job:latest --spec job.json --loss my_loss.py \
        --out runs/job1 --models ~/.cache/huggingface --data ~/.cache/harness [--gpus device=0]

The candidate's container gets no network, a read-only root, a private /tmp, dropped capabilities,
no new privileges, a non-root user, process/memory limits, the GPU(s) it is given, the model cache
and suite data mounted READ-ONLY, the loss file and spec read-only, and only the output folder
writable. No environment from the host passes in (no API keys: the judge runs outside, afterwards).

Untrusted loss code runs in the harness's jail (bubblewrap) INSIDE that container (job spec
``"sandbox": "jail"``), so that it cannot touch the trainer, the output folder or the result even
though they share the container. Docker's default seccomp profile forbids the namespace and mount
calls bubblewrap needs, and docker's masked /proc paths forbid mounting the jail's own /proc, so a
jail job runs with ``JAIL_SECCOMP`` (Docker's denylist of kernel-facing calls, minus clone/unshare,
mount, umount2 and pivot_root, which the jail needs and its own seccomp filter then denies to the
loss) and ``systempaths=unconfined`` (the container is still non-root, capability-free and
network-less; the loss sees only its jail's /proc). Measured in the docker test tier: bubblewrap
inside the container fails with the defaults and runs with these two settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

JOB_UID = 10001  # the image's non-root user

# Denied to everything in a jail job's container (errno EPERM): the kernel-facing calls Docker's default
# profile blocks, except those bubblewrap needs to build the loss's jail (see the module doc).
JAIL_DENIED_SYSCALLS = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
    "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl",
    "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "move_mount", "move_pages",
    "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open", "process_vm_readv",
    "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot", "request_key", "set_mempolicy", "setns",
    "settimeofday", "stime", "swapoff", "swapon", "syslog", "sysfs", "_sysctl", "umount", "uselib",
    "userfaultfd", "ustat", "vm86", "vm86old",
)


def write_jail_seccomp_profile(folder: Path) -> Path:
    """The container's seccomp profile for a job whose loss runs in the jail; returns its path."""
    path = Path(folder) / "seccomp-jail.json"
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": list(JAIL_DENIED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    path.write_text(json.dumps(profile, indent=1) + "\n")
    return path


@dataclass(frozen=True)
class JobLimits:
    memory: str = "96g"
    shm: str = "16g"  # NCCL and dataloaders need more than docker's 64 MB default
    pids: int = 4096
    cpus: int = 16
    gpus: str = ""  # docker --gpus value, e.g. "device=0" or "all"; "" = CPU job
    runtime: str = ""  # e.g. "runsc" (gVisor, with nvproxy for GPUs)


def docker_run_args(*, image: str, spec: Path, loss: Path, out: Path, models: Path | None, data: Path | None,
                    limits: JobLimits, name: str = "", jail_seccomp: Path | None = None) -> list[str]:
    """``jail_seccomp``: the profile from write_jail_seccomp_profile, for a job whose loss runs in the jail."""
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
    if jail_seccomp is not None:
        args += ["--security-opt", f"seccomp={Path(jail_seccomp).resolve()}", "--security-opt", "systempaths=unconfined"]
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
    spec = container_spec(json.loads(a.spec.read_text()))
    staged.write_text(json.dumps(spec, indent=1))
    profile = write_jail_seccomp_profile(a.out) if spec.get("sandbox", "jail") == "jail" else None
    cmd = docker_run_args(image=a.image, spec=staged, loss=a.loss, out=a.out, models=a.models, data=a.data,
                          limits=JobLimits(gpus=a.gpus, runtime=a.runtime), jail_seccomp=profile)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
