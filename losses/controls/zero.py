def zero(policy_chosen_logps, policy_rejected_logps):
    """Control: a constant zero loss that still depends on the policy inputs, so it is a valid loss.

    Training with it leaves the policy unchanged (zero gradient). Benchmarks use it to check that a
    "no training" run scores like the reference model.
    """
    return 0.0 * (policy_chosen_logps - policy_rejected_logps)
