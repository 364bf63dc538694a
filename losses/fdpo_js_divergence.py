import math

import torch.nn.functional as F


def fdpo_js_divergence(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta):
    """f-DPO (Jensen-Shannon): DPO with the JS-divergence regulariser, reward link f'(u) = log(2u/(1+u)).

    Wang et al. 2024, "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse
    Divergence Constraints" (the f-DPO loss with f'(u) for the JS divergence, Table 1), as TRL 1.16
    computes loss_type="sigmoid", f_divergence_type="js_divergence": f'(e^h) = log 2 + log sigmoid(h), so
    loss = -log sigmoid(beta [log sigmoid(h_w) - log sigmoid(h_l)]) (the log 2 terms cancel).
    """
    chosen = math.log(2) + F.logsigmoid(policy_chosen_logps - reference_chosen_logps)
    rejected = math.log(2) + F.logsigmoid(policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * (chosen - rejected))
