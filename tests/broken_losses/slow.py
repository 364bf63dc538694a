"""Broken on purpose: a correct DPO loss that takes about 60 ms per call (limit: 50 ms for B = 64)."""
import time

import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    time.sleep(0.06)
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * rho)
