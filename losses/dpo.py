import torch.nn.functional as F


def dpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """DPO: the logistic (sigmoid) loss on the implicit reward margin.

    Rafailov et al. 2023, "Direct Preference Optimization", Eq. 7; DiscoPOP paper Table 1 (f_dpo).
    loss = -log sigmoid(beta * rho), rho = (pc - rc) - (pr - rr). TRL: loss_type="sigmoid".
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * rho)
