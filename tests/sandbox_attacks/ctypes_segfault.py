"""Threat: crash the interpreter through ctypes."""

import ctypes


def loss(policy_chosen_logps, policy_rejected_logps):
    ctypes.string_at(0)
