"""Not hostile: a loss that indexes a table by the completion lengths, which the input contract says
are int64 token counts (a float length would make indexing fail at the first training step)."""

import torch
import torch.nn.functional as F

WEIGHTS = 1.0 / torch.sqrt(torch.arange(1, 8193, dtype=torch.float32))


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
         chosen_lengths, rejected_lengths, beta):
    w = WEIGHTS[chosen_lengths.clamp(0, 8191)] + WEIGHTS[rejected_lengths.clamp(0, 8191)]
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * rho) * w.to(rho.dtype)
