"""Broken on purpose: `policy_logps` and `temperature` are not in the vocabulary."""
import torch.nn.functional as F


def loss(policy_logps, policy_rejected_logps, temperature):
    return -F.logsigmoid((policy_logps - policy_rejected_logps) / temperature)
