import torch.nn.functional as F


def padll(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """PADLL (performance-adaptive decay logistic loss): DPO down-weighted, more so for mismatches.

    Lu et al. 2024 (DiscoPOP paper), Table 1 and Appendix E: loss = w * (-log sigmoid(beta * rho)),
    w = 0.9 when rho >= 0, else 0.9 * (1 - 0.5) = 0.45 (a "mismatched" pair).
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    base_decay, mismatch_penalty = 0.9, 0.5
    weight = base_decay * (1 - mismatch_penalty * (rho < 0).to(rho.dtype))
    return weight * -F.logsigmoid(beta * rho)
