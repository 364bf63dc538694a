import torch.nn.functional as F


def robust(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """Robust DPO: an unbiased DPO loss under preference labels flipped with probability eps = 0.1.

    Chowdhury et al. 2024, "Provably Robust DPO" (its de-biased loss), as TRL's loss_type="robust"
    with label_smoothing=0.1 (the paper's recommended value):
    loss = ((1 - eps) * (-log sigmoid(beta rho)) - eps * (-log sigmoid(-beta rho))) / (1 - 2 eps).
    Not bounded below: the eps term rewards ever larger margins without limit.
    """
    eps = 0.1
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    clean = -(1 - eps) * F.logsigmoid(beta * rho)
    flipped = -eps * F.logsigmoid(-beta * rho)
    return (clean - flipped) / (1 - 2 * eps)
