"""Broken on purpose: random noise in the loss, so two calls on the same inputs disagree."""
import torch
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    noise = 0.01 * torch.randn_like(policy_chosen_logps)
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps) + noise)
