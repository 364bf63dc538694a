import torch.nn.functional as F


def simpo(policy_chosen_logps, policy_rejected_logps, chosen_lengths, rejected_lengths):
    """SimPO: reference-free, length-normalised margin loss with a target reward margin.

    Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward" (the SimPO
    objective: a Bradley-Terry loss on length-normalised rewards with a target margin gamma).
    It has its own constants (beta = 2.0, gamma = 1.0, the paper's typical setting) and ignores the
    harness's beta, which is a KL strength that SimPO does not have.
    loss = -log sigmoid(beta (pc / Lc - pr / Lr) - gamma). TRL: CPOTrainer loss_type="simpo", cpo_alpha=0.
    """
    simpo_beta, gamma = 2.0, 1.0
    chosen = policy_chosen_logps / chosen_lengths.clamp(min=1)
    rejected = policy_rejected_logps / rejected_lengths.clamp(min=1)
    return -F.logsigmoid(simpo_beta * (chosen - rejected) - gamma)
