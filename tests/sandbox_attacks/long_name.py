"""Threat: a legal but unusual file name (255 bytes, unicode, spaces) breaks the sandbox's plumbing
(the memfd label, the path inside the jail, the docker copy). The test copies this honest loss to such
a name; every backend must run it."""

import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * rho)
