import torch.nn.functional as F

HYPERPARAMETERS = {"cpo_alpha": (0.0, 10.0)}


def cpo(policy_chosen_logps, policy_rejected_logps, chosen_lengths, beta, cpo_alpha=1.0):
    """CPO: a reference-free logistic preference loss plus the NLL of the chosen answers.

    Xu et al. 2024, "Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance in
    Machine Translation" (L_prefer + L_NLL), as TRL 1.16's CPOTrainer computes loss_type="sigmoid":
    loss = -log sigmoid(beta (pc - pr)) + cpo_alpha * NLL, where NLL is the batch's per-token negative
    log-likelihood of the chosen answers (the same value for every example, as in TRL), cpo_alpha = 1.
    """
    nll = -policy_chosen_logps.sum() / chosen_lengths.sum().clamp(min=1)
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps)) + cpo_alpha * nll
