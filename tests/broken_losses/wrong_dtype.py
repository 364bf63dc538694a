"""Broken on purpose: mixes a float32 smoothing matrix with the inputs, which fails for bfloat16."""
import torch
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    n = rho.shape[0]
    smoothing = torch.eye(n) * 0.9 + 0.1 / n  # float32 whatever the input dtype
    return -F.logsigmoid(beta * (smoothing @ rho))
