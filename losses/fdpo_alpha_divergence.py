import torch
import torch.nn.functional as F

HYPERPARAMETERS = {"f_alpha_divergence_coef": (0.05, 1.0)}


def fdpo_alpha_divergence(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                          reference_rejected_logps, beta, f_alpha_divergence_coef=0.5):
    """f-DPO (alpha divergence): DPO with the alpha-divergence regulariser, f'(u) = (u^(a-1) - 1)/(a - 1).

    Wang et al. 2024, "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse
    Divergence Constraints" (the f-DPO loss with f'(u) for the alpha divergence, Table 1), as TRL 1.16
    computes loss_type="sigmoid", f_divergence_type="alpha_divergence" (f_alpha_divergence_coef = a = 0.5):
    score(h) = (e^{(a-1) h} - 1) / (a - 1) with the exponent capped at 80 (TRL's float32 cap), and
    a = 1 is the limit h (reverse KL, plain DPO). loss = -log sigmoid(beta [score(h_w) - score(h_l)]).
    """
    chosen = policy_chosen_logps - reference_chosen_logps
    rejected = policy_rejected_logps - reference_rejected_logps
    a = f_alpha_divergence_coef
    if abs(a - 1.0) < 1e-6:
        return -F.logsigmoid(beta * (chosen - rejected))

    def score(h):
        return (torch.exp(torch.clamp((a - 1.0) * h.float(), max=80.0)).to(h.dtype) - 1.0) / (a - 1.0)

    return -F.logsigmoid(beta * (score(chosen) - score(rejected)))
