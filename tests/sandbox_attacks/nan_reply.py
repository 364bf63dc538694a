"""Threat: reply with NaN values."""

import torch


def loss(policy_chosen_logps, policy_rejected_logps):
    return (policy_chosen_logps - policy_rejected_logps) * torch.tensor(float("nan"))
