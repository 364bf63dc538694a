"""Broken on purpose: |rho| written as sqrt(rho ** 2) has finite values but a NaN gradient at rho = 0."""
import torch


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return beta * (torch.sqrt(rho**2) - rho)  # 2 beta relu(-rho), penalising wrongly ranked pairs
