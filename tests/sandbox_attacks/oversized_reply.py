"""Threat: reply with an output far larger than the batch."""


def loss(policy_chosen_logps, policy_rejected_logps):
    return (policy_chosen_logps - policy_rejected_logps).repeat(1 << 20)
