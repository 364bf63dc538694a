"""Valid, but noisy: it prints on every call (the CLI's --json output must stay one JSON object)."""
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    print("debug: computing the loss", policy_chosen_logps.shape)
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps))
