import torch
import torch.nn.functional as F

SEED = 20240613  # the draws' own generators: an example always keeps the same tokens


def _sampled(mask, keep, seeds):
    """A (B, T) mask of ``keep[b]`` positions drawn uniformly without replacement among ``mask[b]``,
    row b from a generator seeded with ``seeds[b]``."""
    keys = torch.stack([torch.rand(mask.shape[1], generator=torch.Generator().manual_seed(int(s)),
                                   dtype=torch.float64) for s in seeds])
    keys = keys.masked_fill(~mask.cpu(), 2.0)  # never drawn: every valid key is below 1
    rank = keys.argsort(dim=1).argsort(dim=1)
    return (rank < keep.cpu().unsqueeze(1)).to(mask.device)


def sampo(policy_chosen_token_logps, policy_rejected_token_logps, reference_chosen_token_logps,
          reference_rejected_token_logps, chosen_token_mask, rejected_token_mask, chosen_lengths,
          rejected_lengths, beta):
    """SamPO: DPO on log-ratios summed over the same number of tokens in both answers, down-sampled.

    Lu et al. 2024, "Eliminating Biased Length Reliance of Direct Preference Optimization via Down-Sampled
    KL Divergence" (SamPO's down-sampled implicit reward): with T_m = min(|y_w|, |y_l|), the longer answer
    keeps T_m of its tokens drawn uniformly without replacement (the shorter keeps all), the same tokens
    for policy and reference; r = beta sum_{t sampled} log(pi(y_t)/pi_ref(y_t)); loss = -log sigmoid(r_w -
    r_l). Equal lengths give DPO. Each example's draw uses a generator seeded from SEED, its lengths and its
    reference log-probs, not the global RNG of the authors' code: a call is deterministic (the harness
    requires it) and no example depends on the others, but an example keeps its tokens across epochs.
    """
    keep = torch.minimum(chosen_lengths, rejected_lengths)
    # per example, from its lengths and its reference log-probs (data, fixed for the pair)
    anchor = (reference_chosen_token_logps.double().sum(-1) * 1000 + reference_rejected_token_logps.double().sum(-1))
    seeds = (SEED + chosen_lengths.cpu() * 100003 + rejected_lengths.cpu() * 1009
             + anchor.cpu().round().long().abs()) % (2 ** 62)
    chosen_kept = _sampled(chosen_token_mask, keep, seeds.tolist())
    rejected_kept = _sampled(rejected_token_mask, keep, (seeds + 1).tolist())
    chosen = ((policy_chosen_token_logps - reference_chosen_token_logps) * chosen_kept).sum(dim=-1)
    rejected = ((policy_rejected_token_logps - reference_rejected_token_logps) * rejected_kept).sum(dim=-1)
    return -F.logsigmoid(beta * (chosen - rejected))
