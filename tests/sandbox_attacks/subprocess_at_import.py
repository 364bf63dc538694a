"""Threat: start a process while the file is being loaded (before any call)."""

import subprocess

subprocess.run(["/bin/sh", "-c", "echo pwned > @CANARY_FILE@"])


def loss(policy_chosen_logps, policy_rejected_logps):
    return policy_rejected_logps - policy_chosen_logps
