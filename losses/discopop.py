import torch
import torch.nn.functional as F


def discopop(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """DiscoPOP (LRML, log-ratio modulated loss): a logistic/exponential blend gated by the margin.

    Lu et al. 2024, "Discovering Preference Optimization Algorithms with and for Large Language Models",
    Eq. 5 (Eq. 4 has a sign typo). With x = beta * rho and m = sigmoid(x / tau), tau = 0.05:
    loss = (1 - m) * (-log sigmoid(x)) + m * exp(-x). TRL: loss_type="discopop", discopop_tau=0.05.
    Non-convex; its slope at rho = 0 is positive (it pushes away from the chosen answer near init).
    """
    tau = 0.05
    x = beta * (
        (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    )
    # m * exp(-x) is computed as exp(log m - x): equal in value, but it cannot form 0 * inf for x << 0.
    return torch.sigmoid(-x / tau) * -F.logsigmoid(x) + torch.exp(F.logsigmoid(x / tau) - x)
