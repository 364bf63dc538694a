"""Threat: pose as another kind of death by choosing the exit code (variant @VARIANT@): 159 = 128 +
SIGSYS looks like a seccomp kill, 137 = 128 + SIGKILL like out of memory, 152 = 128 + SIGXCPU like
a CPU timeout; ``kill_supervisor`` first kills the worker's parent (its supervisor) so that no one
reports the real status."""

import os
import signal

VARIANT = "@VARIANT@"


def loss(policy_chosen_logps, policy_rejected_logps):
    if VARIANT == "kill_supervisor":
        os.kill(os.getppid(), signal.SIGKILL)
        os._exit(159)
    os._exit(int(VARIANT))
