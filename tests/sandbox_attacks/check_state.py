"""Threat: carry state from the check into training, and from one seed into the next (issue 29 item 9).
The check calls the loss with a batch of one example, which training never sends; this loss remembers
it, and counts its calls to tell one seed's training from the next. It is DPO until either happened,
then reversed DPO: in a process that ran the check (or an earlier seed) it would train the wrong way.
A fresh sandbox session per seed and for the check (harness.sandbox.seeds) leaves it DPO in training.
Placeholder @AFTER_CALLS@: the number of loss calls of one seed's training."""

import torch.nn.functional as F

AFTER_CALLS = int("@AFTER_CALLS@")
_seen = {"check": False, "calls": 0}


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    _seen["calls"] += 1
    if policy_chosen_logps.shape[0] == 1:
        _seen["check"] = True
    sign = -1.0 if _seen["check"] or _seen["calls"] > AFTER_CALLS else 1.0
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(sign * beta * rho)
