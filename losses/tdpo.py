import torch.nn.functional as F

HYPERPARAMETERS = {"alpha": (0.0, 5.0)}


def tdpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
         chosen_token_kl, rejected_token_kl, beta, alpha=0.5):
    """TDPO: DPO's margin corrected by the difference of the answers' sequential token-level KL divergences.

    Zeng et al. 2024, "Token-level Direct Preference Optimization" (TDPO2, its recommended objective), as
    the authors' code computes it (tdpo_loss with if_tdpo2=True): with D(y) = sum_t KL(pi_ref(.|x, y<t) ||
    pi(.|x, y<t)) the sequential KL (per-token input chosen_token_kl / rejected_token_kl),
    loss = -log sigmoid(beta [rho - alpha (D(y_l) - sg(D(y_w)))]), sg = stop-gradient, alpha = 0.5.
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    chosen_kl = chosen_token_kl.sum(dim=-1)
    rejected_kl = rejected_token_kl.sum(dim=-1)
    return -F.logsigmoid(beta * (rho - alpha * (rejected_kl - chosen_kl.detach())))
