"""Threat: exhaust output (flood stderr and stdout)."""

import sys


def loss(policy_chosen_logps, policy_rejected_logps):
    line = "x" * 65535 + "\n"
    while True:
        sys.stderr.write(line)
        print(line)
