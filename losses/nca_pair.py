import torch.nn.functional as F


def nca_pair(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """NCA (pairwise): noise-contrastive alignment on each answer's own implicit reward.

    Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards"
    (NCA for pairwise preferences); TRL's loss_type="nca_pair". With r_c = beta (pc - rc), r_r = beta (pr - rr):
    loss = -log sigmoid(r_c) - 0.5 log sigmoid(-r_c) - 0.5 log sigmoid(-r_r).
    """
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(chosen) - 0.5 * F.logsigmoid(-chosen) - 0.5 * F.logsigmoid(-rejected)
