"""Threat: hang without using CPU."""

import time


def loss(policy_chosen_logps, policy_rejected_logps):
    time.sleep(3600)
