import torch
import torch.nn.functional as F


def fdpo_forward_kl(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
                    beta):
    """f-DPO (forward KL): DPO with the forward-KL regulariser, whose reward link is f'(u) = 1 - 1/u.

    Wang et al. 2024, "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse
    Divergence Constraints" (the f-DPO loss with f'(u) for forward KL, Table 1), as TRL 1.16 computes
    loss_type="sigmoid", f_divergence_type="forward_kl": with h = pi/pi_ref log-ratios,
    loss = -log sigmoid(beta [(1 - e^{-h_w}) - (1 - e^{-h_l})]). e^{-h} is capped at e^80, where TRL's
    float32 would overflow to inf and give NaN: identical below the cap.
    """
    chosen = 1 - torch.exp(torch.clamp(reference_chosen_logps - policy_chosen_logps, max=80.0))
    rejected = 1 - torch.exp(torch.clamp(reference_rejected_logps - policy_rejected_logps, max=80.0))
    return -F.logsigmoid(beta * (chosen - rejected))
