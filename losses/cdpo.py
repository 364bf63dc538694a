import torch.nn.functional as F

HYPERPARAMETERS = {"label_smoothing": (0.0, 0.49)}


def cdpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta,
         label_smoothing=0.1):
    """cDPO: conservative DPO, the logistic loss with labels flipped with probability eps (label smoothing).

    Mitchell 2023, "A note on DPO with noisy preferences & relationship to IPO", Eq. 3 (the DPO authors'
    preference_loss with label_smoothing; older TRL's loss_type="sigmoid" with label_smoothing):
    loss = -(1 - eps) log sigmoid(beta rho) - eps log sigmoid(-beta rho), eps = label_smoothing = 0.1.
    Bounded below by the eps term: unlike losses/robust.py (Chowdhury et al.'s de-biased loss, which
    divides by 1 - 2 eps and subtracts the flipped term), it stops pushing once sigmoid(beta rho) = 1 - eps.
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -(1 - label_smoothing) * F.logsigmoid(beta * rho) - label_smoothing * F.logsigmoid(-beta * rho)
