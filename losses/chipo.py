import torch
import torch.nn.functional as F

HYPERPARAMETERS = {"r_max": (0.1, 100.0)}


def chipo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta,
          r_max=1.0):
    """chi-PO: DPO with the link phi(z) = z + log z of the likelihood ratio (chi-squared + KL regularisation).

    Huang et al. 2024, "Correcting the Mythos of KL-Regularization: Direct Alignment without
    Overoptimization via Chi-Squared Preference Optimization" (the chi-PO objective, Algorithm 1): with
    h = log(pi/pi_ref) and phi = e^h + h, loss = -log sigmoid(clip_{2 R_max}[beta phi(h_w) - beta phi(h_l)]),
    clip_c(x) = max(-c, min(c, x)), R_max = r_max = 1 (rewards in [0, 1]). e^{h_w} - e^{h_l} is computed as
    e^m (e^{h_w - m} - e^{h_l - m}), m = max(h_w, h_l), with e^m capped at e^80: finite where two large
    ratios would give inf - inf, and equal after the clip.
    """
    chosen = policy_chosen_logps - reference_chosen_logps
    rejected = policy_rejected_logps - reference_rejected_logps
    top = torch.maximum(chosen, rejected)
    ratio_gap = torch.exp(torch.clamp(top, max=80.0)) * (torch.exp(chosen - top) - torch.exp(rejected - top))
    margin = beta * (ratio_gap + chosen - rejected)
    return -F.logsigmoid(torch.clamp(margin, min=-2 * r_max, max=2 * r_max))
