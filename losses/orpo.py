import torch
import torch.nn.functional as F


def orpo(policy_chosen_logps, policy_rejected_logps, chosen_lengths, rejected_lengths):
    """ORPO: NLL of the chosen answer plus a weighted odds-ratio preference term, reference-free.

    Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model" (the odds-ratio
    loss as TRL derives it from the paper's Eqs. 4 and 7),
    from average (per-token) log-probs a_c = pc / Lc, a_r = pr / Lr and lambda = 0.1 (the paper's and
    TRL's default; the harness's beta is not used):
    log_odds = (a_c - a_r) - (log(1 - e^a_c) - log(1 - e^a_r)),
    loss = -a_c - lambda * log sigmoid(log_odds).
    The NLL term is per example; TRL's ORPOTrainer averages it over all chosen tokens of the batch.
    """
    lam = 0.1
    chosen = policy_chosen_logps / chosen_lengths.clamp(min=1)
    rejected = policy_rejected_logps / rejected_lengths.clamp(min=1)
    # log(1 - e^a) as log(-expm1(a)): accurate for a near 0, where log1p(-exp(a)) cancels.
    log_odds = (chosen - rejected) - (torch.log(-torch.expm1(chosen)) - torch.log(-torch.expm1(rejected)))
    return -chosen - lam * F.logsigmoid(log_odds)
