import torch


def slic(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """SLiC: the hinge loss on the implicit reward margin.

    Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration with Human Feedback" (its rank
    calibration hinge, margin 1, on the reference-relative margin); DiscoPOP paper Table 1 (f_slic).
    loss = relu(1 - beta * rho). TRL: loss_type="hinge".
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return torch.relu(1 - beta * rho)
