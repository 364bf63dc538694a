import torch.nn.functional as F


def sigmoid_norm(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    chosen_lengths,
    rejected_lengths,
    beta,
):
    """Length-normalised DPO: the DPO loss on per-token (average) log-ratios.

    TRL's loss_type="sigmoid_norm" (DPO, Rafailov et al. 2023 Eq. 7, with each log-ratio divided by its
    completion's token count, which removes DPO's preference for longer answers).
    loss = -log sigmoid(beta ((pc - rc) / Lc - (pr - rr) / Lr)).
    """
    chosen = (policy_chosen_logps - reference_chosen_logps) / chosen_lengths.clamp(min=1)
    rejected = (policy_rejected_logps - reference_rejected_logps) / rejected_lengths.clamp(min=1)
    return -F.logsigmoid(beta * (chosen - rejected))
