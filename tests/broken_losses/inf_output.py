"""Broken on purpose: exp of the raw log-prob difference (no beta, no reference) overflows to inf
for long completions (summed log-probs near -1000)."""
import torch


def loss(policy_chosen_logps, policy_rejected_logps):
    return torch.exp(policy_rejected_logps - policy_chosen_logps)
