import torch
import torch.nn.functional as F

HYPERPARAMETERS = {"dpop_lambda": (0.0, 1000.0)}


def dpop(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta,
         dpop_lambda=50.0):
    """DPOP (DPO-Positive): DPO plus a penalty whenever the chosen answer loses likelihood vs the reference.

    Pal et al. 2024, "Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive", Eq. 3:
    loss = -log sigmoid(beta (rho - lambda max(0, log pi_ref(y_w) - log pi(y_w)))), lambda = 50 (the
    value of the paper and of the SamPO authors' implementation, dpop_lambda).
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    penalty = torch.clamp(reference_chosen_logps - policy_chosen_logps, min=0.0)
    return -F.logsigmoid(beta * (rho - dpop_lambda * penalty))
