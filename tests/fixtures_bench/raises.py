def loss(policy_chosen_logps, policy_rejected_logps):
    raise RuntimeError("this loss always fails")
