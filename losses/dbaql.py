import torch
import torch.nn.functional as F


def dbaql(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """DBAQL (dynamic blended adaptive quantile loss): logistic/exponential blend set by the batch variance.

    Lu et al. 2024 (DiscoPOP paper), Table 1: with x = beta * rho, tau = 0.05 and
    w = sigmoid(Var_batch(x / tau)), loss = w * (-log sigmoid(x / 0.9)) + (1 - w) * exp(-0.9 x).
    Uses batch statistics: example i's loss depends on the whole micro-batch. The variance is the
    sample (n - 1) variance as in the paper's code; for a batch of one it is undefined (the paper's
    code gives NaN), so it is taken as 0 there.
    """
    tau, temperature = 0.05, 0.9
    x = beta * (
        (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    )
    variance = (x / tau).var() if x.numel() > 1 else (x * 0).sum()
    # (1 - w) * exp(-0.9 x) is computed as exp(log(1 - w) - 0.9 x): equal in value, but it cannot form
    # 0 * inf when the variance saturates w at 1 and x << 0.
    return torch.sigmoid(variance) * -F.logsigmoid(x / temperature) + torch.exp(
        F.logsigmoid(-variance) - temperature * x
    )
