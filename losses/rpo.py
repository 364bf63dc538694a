"""RPO: DPO plus the NLL of the chosen answers, weighted 1 to 1 (TRL's loss_type list).

Pang et al. 2024, "Iterative Reasoning Preference Optimization" (its loss: DPO + alpha * NLL of the
winning answer, alpha = 1), written the way TRL 1.16 documents it after removing rpo_alpha:
loss_type=["sigmoid", "sft"], loss_weights=[1.0, 1.0]. The NLL is TRL's "sft": per chosen token over
the batch (the paper normalises by each answer's length).
"""

LOSS_TYPE = ["sigmoid", "sft"]
LOSS_WEIGHTS = [1.0, 1.0]
