import torch


def kto_pair(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """KTO (paired): Kahneman-Tversky value of each answer against the batch's KL estimate.

    Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization" (the HALOs report's
    Eq. 7 on paired data), as TRL computed loss_type="kto_pair" before it moved KTO to its own trainer:
    z_w = mean(pc - rc).clamp(min=0), z_l = mean(pr - rr).clamp(min=0) over the batch (each answer's KL
    is estimated from the other half), loss = [(1 - sigmoid(beta (h_w - z_l))) + (1 - sigmoid(beta (z_w -
    h_l)))] / 2 per pair, whose mean is TRL's mean over its 2B concatenated terms. A batch statistic.
    """
    chosen = policy_chosen_logps - reference_chosen_logps
    rejected = policy_rejected_logps - reference_rejected_logps
    chosen_kl = chosen.mean().clamp(min=0)
    rejected_kl = rejected.mean().clamp(min=0)
    return ((1 - torch.sigmoid(beta * (chosen - rejected_kl))) + (1 - torch.sigmoid(beta * (chosen_kl - rejected)))) / 2
