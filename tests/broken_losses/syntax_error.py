"""Broken on purpose: a syntax error on line 6 (missing closing parenthesis)."""
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps)
