"""Threat: start threads (which seccomp allows) until the host runs out of process ids."""

import threading
import time

threading.stack_size(65536)  # small stacks: the address-space limit alone would allow ~60,000 threads


def loss(policy_chosen_logps, policy_rejected_logps):
    started = 0
    try:
        while started < 1000:  # far above the cap, far below a real host-wide bomb
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            started += 1
    except RuntimeError as e:
        raise RuntimeError(f"thread cap reached after {started} threads: {e}") from None
    raise RuntimeError(f"UNCAPPED: started {started} threads")
