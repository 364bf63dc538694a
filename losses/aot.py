import torch.nn.functional as F

HYPERPARAMETERS = {"label_smoothing": (0.0, 0.49)}


def aot(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta,
        label_smoothing=0.0):
    """AOT (paired): DPO's logistic loss on the batch's sorted policy and reference log-ratio margins.

    Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal Transport" (AOT: the
    first-order stochastic dominance of chosen over rejected rewards, solved in 1-D by sorting), as TRL
    1.16 computes loss_type="aot": with u = sort(pc - pr) and v = sort(rc - rr) over the batch,
    delta = u - v and loss_k = -(1 - eps) log sigmoid(beta delta_k) - eps log sigmoid(-beta delta_k),
    eps = label_smoothing (TRL's, default 0). A batch statistic: example k's loss is the k-th order
    statistic's, so only the batch mean is meaningful.
    """
    logratios, _ = (policy_chosen_logps - policy_rejected_logps).sort(dim=0)
    ref_logratios, _ = (reference_chosen_logps - reference_rejected_logps).sort(dim=0)
    delta = logratios - ref_logratios
    return -(1 - label_smoothing) * F.logsigmoid(beta * delta) - label_smoothing * F.logsigmoid(-beta * delta)
