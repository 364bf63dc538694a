import torch.nn.functional as F


def cal_dpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """Cal-DPO: DPO's contrastive term plus a calibration that pins each implicit reward to +-1/(2 beta).

    Xiao et al. 2024, "Cal-DPO: Calibrated Direct Preference Optimization for Language Model Alignment"
    (the Cal-DPO objective), as the authors' code computes it (tengxiao1/Cal-DPO, loss_type "Cal-DPO"):
    with h_w = pc - rc and h_l = pr - rr, loss = -log sigmoid(h_w - h_l) + 1/2 [(h_w - 1/(2 beta))^2
    + (h_l + 1/(2 beta))^2]. The contrastive term has no beta; beta sets the calibration targets.
    """
    chosen = policy_chosen_logps - reference_chosen_logps
    rejected = policy_rejected_logps - reference_rejected_logps
    target = 1.0 / (2.0 * beta)
    return -F.logsigmoid(chosen - rejected) + 0.5 * ((chosen - target) ** 2 + (rejected + target) ** 2)
