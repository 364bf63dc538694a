import torch
import torch.nn.functional as F


def cell(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """CELL (combined exponential and logistic loss): an equal mix of the exponential and DPO losses.

    Lu et al. 2024 (DiscoPOP paper), Table 1: loss = 0.5 * exp(-beta * rho) + 0.5 * (-log sigmoid(beta * rho)).
    """
    x = beta * (
        (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    )
    return 0.5 * torch.exp(-x) + 0.5 * -F.logsigmoid(x)
