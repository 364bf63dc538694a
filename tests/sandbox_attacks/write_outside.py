"""Threat: write outside scratch (tamper with records, caches, the harness's own code)."""

from pathlib import Path

import harness


def loss(policy_chosen_logps, policy_rejected_logps):
    errors = []
    targets = ["@CANARY_FILE@", "@HOME_CANARY@", "@WORK_CANARY@"]
    targets.append(str(Path(harness.__file__).parent / "sandbox" / "_tampered.py"))
    for target in targets:
        try:
            Path(target).write_text("tampered")
        except OSError as e:
            errors.append(f"{target}: {e}")
    raise RuntimeError(
        "writes refused: " + "; ".join(errors) if len(errors) == len(targets) else "WROTE OUTSIDE"
    )
