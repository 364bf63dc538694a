"""Threat: take more cores than the session's share (issue 29 item 8). The jail sets OMP_NUM_THREADS to
the session's threads, but torch.set_num_threads(8) overrides it: only a CPU quota holds (a cpu cgroup
capped at SandboxLimits.threads cores, or docker --cpus). The loss keeps 8 torch threads busy for 2 s
of wall clock and reports the cores it got (its process's CPU time over the wall time)."""

import resource
import time

import torch


def loss(policy_chosen_logps, policy_rejected_logps):
    torch.set_num_threads(8)
    a = torch.randn(384, 384) / 20

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
        return usage.ru_utime + usage.ru_stime

    c0, t0 = cpu(), time.monotonic()
    while time.monotonic() - t0 < 2.0:
        a = torch.tanh(a @ a)
    cores = (cpu() - c0) / (time.monotonic() - t0)
    raise RuntimeError(f"cores used: {cores:.2f} on {torch.get_num_threads()} torch threads")
