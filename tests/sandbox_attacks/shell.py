"""Threat: start a shell."""

import os


def loss(policy_chosen_logps, policy_rejected_logps):
    os.system("echo pwned > @CANARY_FILE@")
    return policy_rejected_logps - policy_chosen_logps
