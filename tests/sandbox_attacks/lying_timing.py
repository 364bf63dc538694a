"""Threat: pass the check's speed limit by lying about the call's time. The loss sleeps 200 ms per
call and makes every clock the worker could read stand still, so a self-reported time would be 0."""

import time

_frozen = time.perf_counter()


def loss(policy_chosen_logps, policy_rejected_logps):
    time.sleep(0.2)
    time.perf_counter = lambda: _frozen
    time.monotonic = lambda: _frozen
    time.time = lambda: _frozen
    return policy_rejected_logps - policy_chosen_logps
