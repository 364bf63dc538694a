"""Broken on purpose: detaches the inputs, so the policy gets no gradient."""
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    rho = (policy_chosen_logps - policy_rejected_logps).detach()
    return -F.logsigmoid(beta * rho)
