"""Not hostile: threads must keep working under the seccomp filter (clone with CLONE_THREAD)."""

import threading

import torch


def loss(policy_chosen_logps, policy_rejected_logps):
    box = []
    t = threading.Thread(target=lambda: box.append(torch.ones(1 << 16).sum().item()))
    t.start()
    t.join()
    assert box == [65536.0], box
    return policy_rejected_logps - policy_chosen_logps
