import torch
import torch.nn.functional as F


def aql(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """AQL (adaptive quantile loss): logistic/hinge blend around a batch-adaptive quantile.

    Lu et al. 2024 (DiscoPOP paper), Table 1, the scored version: m = 0.5 + 0.01 (sigmoid(mean_batch rho) - 0.5),
    q = sigmoid(beta (m - rho)), loss = q * (-log sigmoid(beta rho)) + (1 - q) * relu(1 - beta rho).
    (The official repository's current AQL code differs; this is the version the paper evaluated.)
    Uses batch statistics through mean_batch rho.
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    quantile = 0.5 + 0.01 * (torch.sigmoid(rho.mean()) - 0.5)
    q = torch.sigmoid(beta * (quantile - rho))
    return q * -F.logsigmoid(beta * rho) + (1 - q) * torch.relu(1 - beta * rho)
