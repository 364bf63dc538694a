"""MPO: Mixed Preference Optimization, a weighted sum of DPO, BCO and SFT (TRL's loss_type list).

Wang et al. 2024, "Enhancing the Reasoning Ability of Multimodal Large Language Models via Mixed
Preference Optimization" (its training objective: preference loss + quality loss + generation loss),
with the weights TRL 1.16 documents for it: loss_type=["sigmoid", "bco_pair", "sft"],
loss_weights=[0.8, 0.2, 1.0]. BCO is TRL's pairwise form with reward shift 0 (losses/bco_pair.py).
"""

LOSS_TYPE = ["sigmoid", "bco_pair", "sft"]
LOSS_WEIGHTS = [0.8, 0.2, 1.0]
