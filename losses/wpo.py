import torch
import torch.nn.functional as F


def wpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
        policy_chosen_token_logps, policy_rejected_token_logps, policy_chosen_token_log_sum_sq_probs,
        policy_rejected_token_log_sum_sq_probs, chosen_lengths, rejected_lengths, beta):
    """WPO: DPO with each pair weighted by how likely the current policy is to produce both answers.

    Zhou et al. 2024, "WPO: Enhancing RLHF with Weighted Preference Optimization", Eqs. 2-3 (the weight
    with sampled alignment), as TRL 1.16 computes use_weighting=True with loss_type="sigmoid": per answer,
    w = exp((1/|y|) sum_t [log p(y_t) - log sum_v p(v)^2]) at each of its tokens, without gradient, and
    loss = -w_w w_l log sigmoid(beta rho). Per-token inputs: the label's log-prob and log sum_v p(v)^2.
    """
    def weight(token_logps, log_sum_sq, lengths):
        return torch.exp((token_logps.detach() - log_sum_sq).sum(dim=-1) / lengths.clamp(min=1))

    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    chosen_weight = weight(policy_chosen_token_logps, policy_chosen_token_log_sum_sq_probs, chosen_lengths)
    rejected_weight = weight(policy_rejected_token_logps, policy_rejected_token_log_sum_sq_probs, rejected_lengths)
    return -F.logsigmoid(beta * rho) * chosen_weight * rejected_weight
