import torch.nn.functional as F


def reversed_dpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    """Control: DPO with chosen and rejected swapped, so it prefers the rejected answer.

    loss = -log sigmoid(-beta * rho). Benchmarks use it to check that a loss that trains the wrong way
    scores worse than the reference model (a sanity check of the judge and the pipeline).
    """
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(-beta * rho)
