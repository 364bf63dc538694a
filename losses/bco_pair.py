import torch.nn.functional as F


def bco_pair(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """BCO (pairwise): binary classification of chosen vs rejected answers by their implicit rewards.

    Jung et al. 2024, "Binary Classifier Optimization for Large Language Model Alignment" (BCO on
    pairs) with the reward shift delta = 0, as TRL 1.16's loss_type="bco_pair" computes it (the running-mean shift of
    the paper and of older TRL versions is stateful across steps, and a loss file is a pure function).
    loss = -log sigmoid(beta (pc - rc)) - log sigmoid(-beta (pr - rr)).
    """
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(chosen) - F.logsigmoid(-rejected)
