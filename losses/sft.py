def sft(policy_chosen_logps, chosen_lengths):
    """SFT: the negative log-likelihood of the chosen answers, per token over the whole batch.

    The supervised fine-tuning term of RPO (Pang et al. 2024) and MPO (Wang et al. 2024), as TRL 1.16
    computes loss_type="sft": -(sum of the batch's chosen token log-probs) / (number of chosen tokens),
    the same value for every example (a batch statistic; its mean is TRL's scalar). Reference-free;
    the harness's beta is not used. Alone it is plain SFT on the chosen answers; it is meant to be
    combined (LOSS_TYPE = ["sigmoid", "sft"]).
    """
    nll = -policy_chosen_logps.sum() / chosen_lengths.sum().clamp(min=1)
    return nll.expand(policy_chosen_logps.shape[0])
