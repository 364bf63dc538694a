import torch.nn.functional as F

HYPERPARAMETERS = {"label_smoothing": (0.0, 0.49)}


def aot_unpaired(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
                 beta, label_smoothing=0.0):
    """AOT (unpaired): the logistic loss on the batch's sorted chosen and sorted rejected log-ratios.

    Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal Transport" (the unpaired
    setting: chosen and rejected rewards compared as two distributions), as TRL 1.16 computes
    loss_type="aot_unpaired": u = sort(pc - rc), v = sort(pr - rr), delta = u - v,
    loss_k = -(1 - eps) log sigmoid(beta delta_k) - eps log sigmoid(-beta delta_k), eps = label_smoothing.
    A batch statistic: only the batch mean is meaningful.
    """
    chosen, _ = (policy_chosen_logps - reference_chosen_logps).sort(dim=0)
    rejected, _ = (policy_rejected_logps - reference_rejected_logps).sort(dim=0)
    delta = chosen - rejected
    return -(1 - label_smoothing) * F.logsigmoid(beta * delta) - label_smoothing * F.logsigmoid(-beta * delta)
