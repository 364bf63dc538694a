"""Threat: behave under `harness check`, sabotage training. The loss is DPO until it has been called
more often than any check calls it (training calls it once per step), then returns a finite loss whose
gradient is 3e38: the weights overflow, and without a guard the record would blame the harness.
Placeholder @AFTER_CALLS@: the number of honest calls."""

import torch.nn.functional as F

AFTER_CALLS = int("@AFTER_CALLS@")
_calls = [0]


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    _calls[0] += 1
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    honest = -F.logsigmoid(beta * rho)
    if _calls[0] <= AFTER_CALLS:
        return honest
    # the value stays the honest one; the gradient w.r.t. the policy log-probs is 3e38 per example
    return honest + (policy_rejected_logps - policy_rejected_logps.detach()) * 3e38
