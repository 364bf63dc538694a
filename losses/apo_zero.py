import torch


def apo_zero(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """APO-zero: raise the chosen and lower the rejected likelihood, each against its own anchor.

    D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions", Eq. 7;
    TRL's loss_type="apo_zero". For chosen answers better than the model's own outputs.
    loss = 1 - sigmoid(beta (pc - rc)) + sigmoid(beta (pr - rr)).
    """
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return (1 - torch.sigmoid(chosen)) + torch.sigmoid(rejected)
