"""Broken on purpose: never returns."""


def loss(policy_chosen_logps, policy_rejected_logps, beta):
    while True:
        pass
