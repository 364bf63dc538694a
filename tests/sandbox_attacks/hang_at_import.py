"""Threat: hang while the file is being loaded, before the harness ever gets a hello."""

import time

time.sleep(3600)


def loss(policy_chosen_logps, policy_rejected_logps):
    return policy_rejected_logps - policy_chosen_logps
