# Discovered by `harness discover` (proposer evolve, suite tiny).
# Candidate #13 evo_0012_crossover.
# Chosen on the re-evaluated estimate: win rate 0.8362 [0.6981, 0.9744] on fresh seeds [1, 2, 3] (minus DPO: +0.0103 [-0.2369, 0.2575]);
# search fitness 0.8632 with seeds [0]. The search's own best was #68 evo_0067_mutation (fitness 0.8781).
# Re-bench with a leaderboard's seeds before submitting.
# sha256 of the code below: 397ad8b5c96665f4cd1a7b7a10df66ccd1daed62e0feb18fd64c23ae0579c644
# Lineage:
#   #13 evo_0012_crossover (gen 1, crossover, fitness 0.8632, parents [4, 3])
#   #4 seed_cell (gen 0, seed, fitness 0.8491, parents [])
#   #3 seed_exp (gen 0, seed, fitness 0.6239, parents [])

"""evo_0012_crossover: an evolved loss.

Operator: crossover; parents: #4 seed_cell, #3 seed_exp.
Expression: ["add", ["mul", ["const", 0.5], ["exp", ["neg", ["var", "x"]]]], ["mul", ["const", 0.5], ["neg", ["var", "x"]]]]
"""

import torch
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
         reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    x = beta * rho
    return ((0.5 * torch.exp(torch.clamp((-x), max=20.0))) + (0.5 * (-x)))
