"""Threat: a well-started frame that announces a giant header, to make the harness allocate."""

import os
import struct


def loss(policy_chosen_logps, policy_rejected_logps):
    for fd in range(3, 64):
        try:
            os.write(fd, b"HSB1" + struct.pack("<I", 0xFFFFFFFF))
        except OSError:
            pass
    return policy_rejected_logps - policy_chosen_logps
