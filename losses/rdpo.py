import torch.nn.functional as F

HYPERPARAMETERS = {"alpha": (0.0, 1.0)}


def rdpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
         chosen_lengths, rejected_lengths, beta, alpha=0.05):
    """R-DPO: DPO with a length regulariser, so that a longer chosen answer earns less margin pressure.

    Park et al. 2024, "Disentangling Length from Quality in Direct Preference Optimization" (R-DPO: the
    RLHF objective with a penalty alpha |y| on the response length, whose implicit reward is
    beta log(pi/pi_ref) + alpha |y|): loss = -log sigmoid(beta rho + alpha (|y_w| - |y_l|)), alpha = 0.05
    (the smallest value of the grid the SimPO paper tuned R-DPO over: 0.05, 0.1, 0.5, 1.0).
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    length_gap = (chosen_lengths - rejected_lengths).to(rho.dtype)
    return -F.logsigmoid(beta * rho + alpha * length_gap)
