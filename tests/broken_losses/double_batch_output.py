"""Broken on purpose: returns 2B values (chosen and rejected terms concatenated, like KTO-pair)."""
import torch


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    chosen = 1 - torch.sigmoid(beta * (policy_chosen_logps - reference_chosen_logps))
    rejected = torch.sigmoid(beta * (policy_rejected_logps - reference_rejected_logps))
    return torch.cat([chosen, rejected])
