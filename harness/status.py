"""Run statuses shared by the sandbox, bench records, boards and discovery (a failure is never a score).

Kept free of heavy imports: reading records and rendering boards must not import torch."""

STATUSES = ("ok", "invalid", "sandbox_violation", "timeout", "oom", "crash", "error")
