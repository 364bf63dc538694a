import torch
import torch.nn.functional as F


def pfl(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """PFL (policy focused loss): de-emphasise pairs the policy already ranks right, emphasise the rest.

    Lu et al. 2024 (DiscoPOP paper), Table 1, the scored version: with z = beta * rho / tau, tau = 0.05,
    loss = 0.5 * (-log sigmoid(z)) if policy_chosen_logps > policy_rejected_logps else 2 * relu(1 - z).
    (At beta = tau, z = rho. The official repository's current PFL code differs.)
    """
    tau, focus = 0.05, 2.0
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    z = beta * rho / tau
    correct = policy_chosen_logps > policy_rejected_logps
    return torch.where(correct, -F.logsigmoid(z) / focus, torch.relu(1 - z) * focus)
