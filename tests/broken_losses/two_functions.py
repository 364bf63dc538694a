"""Broken on purpose: two public functions and neither is named `loss`."""
import torch.nn.functional as F


def margin(policy_chosen_logps, policy_rejected_logps):
    return policy_chosen_logps - policy_rejected_logps


def my_loss(policy_chosen_logps, policy_rejected_logps, beta):
    return -F.logsigmoid(beta * margin(policy_chosen_logps, policy_rejected_logps))
