"""Threat: burn CPU forever."""


def loss(policy_chosen_logps, policy_rejected_logps):
    x = 0
    while True:
        x += 1
