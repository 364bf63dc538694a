def loss(policy_chosen_logps, policy_rejected_logps):
    return (policy_chosen_logps - policy_rejected_logps) * float("nan")
