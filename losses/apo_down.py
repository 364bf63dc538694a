import torch


def apo_down(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """APO-down: lower both likelihoods, the rejected one more.

    D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions", Eq. 8;
    TRL's loss_type="apo_down". For chosen answers worse than the model's own outputs.
    loss = sigmoid(beta (pc - rc)) + 1 - sigmoid(beta rho).
    """
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return torch.sigmoid(chosen) + (1 - torch.sigmoid(chosen - rejected))
