"""Not hostile: raises on every other call; the session must survive (status invalid, then ok)."""

import torch.nn.functional as F

_calls = [0]


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    _calls[0] += 1
    if _calls[0] % 2 == 1:
        raise ValueError(f"flaky failure on call {_calls[0]}")
    logits = (policy_chosen_logps - reference_chosen_logps) - (
        policy_rejected_logps - reference_rejected_logps
    )
    return -F.logsigmoid(beta * logits)
