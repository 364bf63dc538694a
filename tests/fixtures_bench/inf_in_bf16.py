import torch


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """Finite in float32 on training-sized inputs, inf in bfloat16 (1 - sigmoid rounds to 0)."""
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -torch.log(1 - torch.sigmoid(-3 * beta * rho))
