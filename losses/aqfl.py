import torch
import torch.nn.functional as F


def aqfl(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """AQFL (adaptive quantile feedback loss): logistic/hinge blend by distance from a batch quantile.

    Lu et al. 2024 (DiscoPOP paper), Table 1: with x = beta * rho, z = x / tau, tau = 0.05,
    m1 = std_batch(z) * mean_batch(sigmoid(-z)), m2 = m1 + 0.05 (sigmoid(mean_batch z) - m1),
    r = sigmoid(0.1 |z - m2|), loss = r * (-log sigmoid(x)) + (1 - r) * relu(1 - x).
    Uses batch statistics. The standard deviation is the sample (n - 1) one as in the paper's code;
    for a batch of one it is undefined (NaN there), so it is taken as 0.
    """
    tau = 0.05
    x = beta * (
        (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    )
    z = x / tau
    spread = z.std() if z.numel() > 1 else (z * 0).sum()
    m1 = spread * torch.sigmoid(-z).mean()
    m2 = m1 + 0.05 * (torch.sigmoid(z.mean()) - m1)
    r = torch.sigmoid(0.1 * (z - m2).abs())
    return r * -F.logsigmoid(x) + (1 - r) * torch.relu(1 - x)
