import math

import torch
import torch.nn.functional as F


def exo_pair(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """EXO (pairwise): reverse KL from the policy's pair distribution to a smoothed preference label.

    Ji et al. 2024, "Towards Efficient Exact Optimization of Language Model Alignment", Eq. 16 with K = 2;
    TRL's loss_type="exo_pair" with label_smoothing eps = 1e-3 (the paper's recommended value).
    With q = sigmoid(beta rho): loss = q (log q - log(1 - eps)) + (1 - q) (log(1 - q) - log eps).
    """
    eps = 1e-3
    x = beta * (
        (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    )
    chosen = torch.sigmoid(x) * (F.logsigmoid(x) - math.log1p(-eps))
    rejected = torch.sigmoid(-x) * (F.logsigmoid(-x) - math.log(eps))
    return chosen + rejected
