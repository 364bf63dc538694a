def sppo_hard(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """SPPO (hard labels): regress each answer's log-ratio to +-1 / (2 beta).

    Wu et al. 2024, "Self-Play Preference Optimization for Language Model Alignment", Eq. 4.7 with the
    win probability set to 1 for the chosen and 0 for the rejected answer; TRL's loss_type="sppo_hard".
    loss = (pc - rc - 0.5 / beta)^2 + (pr - rr + 0.5 / beta)^2.
    """
    chosen = policy_chosen_logps - reference_chosen_logps
    rejected = policy_rejected_logps - reference_rejected_logps
    return (chosen - 0.5 / beta) ** 2 + (rejected + 0.5 / beta) ** 2
