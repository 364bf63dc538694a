"""Broken on purpose: importing the file raises (a module that does not exist)."""
import not_a_real_module_for_losses  # noqa: F401
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps))
