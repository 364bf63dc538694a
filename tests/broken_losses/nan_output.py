"""Broken on purpose: log of a log-prob (always negative), so every value is NaN."""
import torch


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    return -torch.log(beta * policy_chosen_logps) + torch.log(beta * policy_rejected_logps)
