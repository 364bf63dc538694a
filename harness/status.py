"""Run statuses shared by the sandbox, bench records, boards and discovery (a failure is never a score).

Kept free of heavy imports: reading records and rendering boards must not import torch."""

STATUSES = ("ok", "invalid", "sandbox_violation", "timeout", "oom", "crash", "diverged", "error")
# diverged: training with the candidate produced a non-finite loss, gradient or weight (a candidate
# failure, with the step); error: a fault of the harness itself, never of a candidate.
