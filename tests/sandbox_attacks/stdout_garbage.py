"""Threat: corrupt the protocol by printing to stdout (must be harmless: the answer stays right)."""

import os
import sys

import torch.nn.functional as F

print("garbage on stdout HSB1\x00\x00\x00\x01")


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    print("HSB1 more garbage", flush=True)
    os.write(1, b"HSB1\xff\xff\xff\xff raw garbage on fd 1\n")
    sys.__stdout__.write("garbage via sys.__stdout__\n")
    logits = (policy_chosen_logps - reference_chosen_logps) - (
        policy_rejected_logps - reference_rejected_logps
    )
    return -F.logsigmoid(beta * logits)
