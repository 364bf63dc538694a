"""Threat: read files under home, the project's stores and caches, and files next to the loss."""

import os
from pathlib import Path

TARGETS = [
    "@CANARY_FILE@",
    "@CANARY_DIR@",
    "@HOME_CANARY@",
    "@WORK_CANARY@",
    os.path.expanduser("~/.cache/harness"),
    "/root/.ssh",
    "/root/.cache",
    "/etc/shadow",
]


def loss(policy_chosen_logps, policy_rejected_logps):
    seen = {}
    for t in TARGETS + [str(p) for p in Path(__file__).parent.iterdir() if p.name != Path(__file__).name]:
        p = Path(t)
        try:
            seen[t] = p.read_text()[:200] if p.is_file() else os.listdir(p)
        except OSError:
            continue
    seen = {k: v for k, v in seen.items() if v}
    raise RuntimeError(f"LEAK {seen}" if seen else "nothing readable outside the jail")
