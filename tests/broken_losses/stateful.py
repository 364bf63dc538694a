"""Broken on purpose: a module-level running mean of the rewards (like the BCO paper's reward shift)
is state carried between calls, so two calls on the same inputs disagree."""
import torch.nn.functional as F

_running = {"mean": 0.0, "count": 0}


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    _running["count"] += 1
    _running["mean"] += (float((chosen + rejected).detach().mean()) / 2 - _running["mean"]) / _running["count"]
    delta = _running["mean"]
    return -F.logsigmoid(chosen - delta) - F.logsigmoid(-(rejected - delta))
