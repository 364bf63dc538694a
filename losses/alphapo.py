import torch
import torch.nn.functional as F

HYPERPARAMETERS = {"alpha": (-1.0, 1.0), "simpo_beta": (0.1, 10.0), "simpo_gamma": (0.0, 5.0)}


def alphapo(policy_chosen_logps, policy_rejected_logps, chosen_lengths, rejected_lengths, alpha=0.25,
            simpo_beta=2.0, simpo_gamma=1.0):
    """AlphaPO: SimPO with a reward shaped by alpha, r = (1 - p^(-alpha)) / alpha of the per-token likelihood.

    Gupta et al. 2025, "AlphaPO: Reward Shape Matters for LLM Alignment" (the AlphaPO reward and loss), as
    TRL 1.16's CPOTrainer computes loss_type="alphapo" (simpo with cpo_alpha = 0): with a = p / |y| the
    average log-prob, r(a) = (1 - e^{-alpha a}) / alpha (alpha = 0 is SimPO's r = a),
    loss = -log sigmoid(simpo_beta (r_w - r_l) - simpo_gamma). Reference-free; the harness's beta is not
    used (simpo_beta = 2, simpo_gamma = 1 as in losses/simpo.py; alpha = 0.25, a moderate value of the
    paper's range). e^{-alpha a} is capped at e^80, where float32 would overflow: identical below it.
    """
    chosen = policy_chosen_logps / chosen_lengths.clamp(min=1)
    rejected = policy_rejected_logps / rejected_lengths.clamp(min=1)

    def reward(avg):
        if alpha == 0:
            return avg
        return (1 - torch.exp(torch.clamp(-alpha * avg, max=80.0))) / alpha

    return -F.logsigmoid(simpo_beta * (reward(chosen) - reward(rejected)) - simpo_gamma)
