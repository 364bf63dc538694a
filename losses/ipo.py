def ipo(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    chosen_lengths,
    rejected_lengths,
    beta,
):
    """IPO: squared distance of the length-normalised margin from 1 / (2 beta).

    Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences",
    Eq. 17 (beta plays the role of tau). As in TRL (loss_type="ipo"), each log-ratio is divided by its
    completion's token count, because summed log-probs make the squared loss grow with length.
    loss = ((pc - rc) / Lc - (pr - rr) / Lr - 1 / (2 beta))^2.
    """
    chosen = (policy_chosen_logps - reference_chosen_logps) / chosen_lengths.clamp(min=1)
    rejected = (policy_rejected_logps - reference_rejected_logps) / rejected_lengths.clamp(min=1)
    return (chosen - rejected - 1 / (2 * beta)) ** 2
