import torch
import torch.nn.functional as F

HYPERPARAMETERS = {"ld_alpha": (0.0, 1.0)}


def ld_dpo(policy_chosen_token_logps, policy_rejected_token_logps, reference_chosen_token_logps,
           reference_rejected_token_logps, chosen_lengths, rejected_lengths, beta, ld_alpha=0.5):
    """LD-DPO: DPO on log-probs whose tokens past the shorter answer's length are down-weighted by alpha.

    Liu et al. 2024, "LD-DPO: Length Desensitization in Direct Preference Optimization" (the decomposed
    likelihood: the shared part of both answers at full weight, the verbose tail weighted by alpha), as
    TRL 1.16 computes ld_alpha with loss_type="sigmoid", on policy and reference alike: with
    l_p = min(|y_w|, |y_l|), log p^(y) = sum_{t <= l_p} log p(y_t) + alpha sum_{t > l_p} log p(y_t), and
    loss = -log sigmoid(beta [(p^_w - r^_w) - (p^_l - r^_l)]). ld_alpha = 0.5 (1 is DPO; the paper tunes
    it per model).
    """
    shared = torch.minimum(chosen_lengths, rejected_lengths).unsqueeze(1)
    tail = torch.arange(policy_chosen_token_logps.shape[1], device=shared.device).unsqueeze(0) >= shared

    def desensitised(token_logps):  # zero past each answer's end, so the tail sum stops there
        return torch.where(tail, ld_alpha * token_logps, token_logps).sum(dim=-1)

    rho = (desensitised(policy_chosen_token_logps) - desensitised(reference_chosen_token_logps)) - (
        desensitised(policy_rejected_token_logps) - desensitised(reference_rejected_token_logps))
    return -F.logsigmoid(beta * rho)
