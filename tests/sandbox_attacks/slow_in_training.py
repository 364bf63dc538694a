"""Threat: fast on the check's probes, slow in training (issue 29 item 7). The check never sends a batch
of @TRAIN_BATCH@ examples; training does, and there this loss sleeps @SLEEP@ s per call (under a fixed
30 s per-call limit, 29 s per call ran a 128-step seed for an hour at no CPU). Training's limits are
relative to the check's measured speed (harness.sandbox.limits.TimeBudget): it ends as timeout."""

import time

import torch.nn.functional as F

TRAIN_BATCH, SLEEP = int("@TRAIN_BATCH@"), float("@SLEEP@")


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    if policy_chosen_logps.shape[0] == TRAIN_BATCH:
        time.sleep(SLEEP)
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * rho)
