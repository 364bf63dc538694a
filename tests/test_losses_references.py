"""The issue-31 built-ins that TRL 1.16 does not compute, against independent float64 formulas written
from their papers or their authors' code (the ones TRL computes: tests/test_losses_trl.py).

Each reference is written here, apart from the loss file, in numpy; where the authors' code reduces a
term over the batch (Cal-DPO's mse, kto_pair's concatenated halves), the batch mean is compared, since
that is what the trainer minimises.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from harness.builtin import builtin_losses
from harness.token_inputs import aligned, layout, token_kl

BETAS = (0.05, 0.3)
SEQ = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")


def logsig(x):
    return -np.logaddexp(0.0, -x)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def batch(seed: int, n: int = 32):
    rng = np.random.default_rng(seed)
    pc, pr = rng.uniform(-80, -5, n), rng.uniform(-80, -5, n)
    rc, rr = pc - rng.uniform(-15, 15, n), pr - rng.uniform(-15, 15, n)
    lc, lr = rng.integers(1, 60, n), rng.integers(1, 60, n)
    return pc, pr, rc, rr, lc, lr


def run(name: str, pc, pr, rc, rr, lc, lr, beta, **hyper):
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in zip(SEQ, (pc, pr, rc, rr), strict=True)}
    tensors.update(chosen_lengths=torch.tensor(lc), rejected_lengths=torch.tensor(lr))
    return builtin_losses().get(name).load()(**tensors, beta=beta, **hyper).numpy()


def reference(name: str, pc, pr, rc, rr, lc, lr, beta):
    """Per-example formulas, from the papers (docstrings cite the equations)."""
    hw, hl = pc - rc, pr - rr
    rho = hw - hl
    if name == "cdpo":  # Mitchell 2023, Eq. 3, eps = 0.1
        return -0.9 * logsig(beta * rho) - 0.1 * logsig(-beta * rho)
    if name == "rdpo":  # Park et al. 2024, alpha = 0.05
        return -logsig(beta * rho + 0.05 * (lc - lr))
    if name == "dpop":  # Pal et al. 2024, Eq. 3, lambda = 50
        return -logsig(beta * (rho - 50.0 * np.maximum(0.0, rc - pc)))
    if name == "chipo":  # Huang et al. 2024, Algorithm 1, R_max = 1
        return -logsig(np.clip(beta * (np.exp(hw) + hw) - beta * (np.exp(hl) + hl), -2.0, 2.0))
    if name == "sft":  # TRL's sft: the batch's token-mean NLL of the chosen answers
        return np.full_like(pc, -pc.sum() / lc.sum())
    raise KeyError(name)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("name", ["cdpo", "rdpo", "dpop", "sft"])
def test_sequence_losses_match_their_formulas(name, beta):
    data = batch(len(name))
    np.testing.assert_allclose(run(name, *data, beta), reference(name, *data, beta), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("beta", BETAS)
def test_chipo_matches_its_formula_and_clips(beta):
    rng = np.random.default_rng(5)
    n = 64
    pc, pr = rng.uniform(-40, -5, n), rng.uniform(-40, -5, n)
    rc, rr = pc - rng.uniform(-6, 6, n), pr - rng.uniform(-6, 6, n)  # e^h stays representable in numpy
    data = (pc, pr, rc, rr, np.ones(n, int), np.ones(n, int))
    ours, ref = run("chipo", *data, beta), reference("chipo", *data, beta)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    assert (ref == -logsig(2.0)).any() or (ref == -logsig(-2.0)).any()  # the clip is exercised
    big = run("chipo", np.array([-5.0]), np.array([-5.0]), np.array([-500.0]), np.array([-600.0]),
              np.ones(1, int), np.ones(1, int), beta)  # both ratios e^495, e^595: inf - inf naively
    assert np.isfinite(big).all()


@pytest.mark.parametrize("beta", BETAS)
def test_cal_dpo_matches_the_authors_code(beta):
    """tengxiao1/Cal-DPO: DPO_loss = -logsigmoid(h_w - h_l); Cal = mse(h_w, 1/(2b)) + mse(h_l, -1/(2b)) (batch
    means); loss = DPO_loss + 0.5 * Cal, then its mean."""
    pc, pr, rc, rr, lc, lr = batch(7)
    hw, hl = pc - rc, pr - rr
    cal = np.mean((hw - 1 / (2 * beta)) ** 2) + np.mean((hl + 1 / (2 * beta)) ** 2)
    theirs = np.mean(-logsig(hw - hl) + 0.5 * cal)
    assert run("cal_dpo", pc, pr, rc, rr, lc, lr, beta).mean() == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("beta", BETAS)
def test_kto_pair_matches_the_concatenated_halves_of_old_trl(beta):
    """TRL (before 0.9) loss_type="kto_pair": KL estimates from the batch means, clamped at 0; the chosen and
    rejected halves concatenated (2B terms) and averaged."""
    pc, pr, rc, rr, lc, lr = batch(8)
    pc, pr = pc + 3, pr + 3  # both batch KL estimates positive (the clamp at 0: the next test)
    hw, hl = pc - rc, pr - rr
    kl_w, kl_l = max(hw.mean(), 0.0), max(hl.mean(), 0.0)
    theirs = np.concatenate([1 - sig(beta * (hw - kl_l)), 1 - sig(beta * (kl_w - hl))]).mean()
    assert run("kto_pair", pc, pr, rc, rr, lc, lr, beta).mean() == pytest.approx(theirs, rel=1e-12)
    assert hw.mean() > 0 and hl.mean() > 0


def test_kto_pair_clamps_the_kl_at_zero():
    pc, pr, rc, rr, lc, lr = batch(9)
    lowered = run("kto_pair", pc - 50, pr - 50, rc, rr, lc, lr, 0.1)  # every log-ratio negative: KL terms 0
    hw, hl = pc - 50 - rc, pr - 50 - rr
    np.testing.assert_allclose(lowered, ((1 - sig(0.1 * hw)) + (1 - sig(-0.1 * hl))) / 2, rtol=1e-12)


# ---------------------------------------------------------------------------------------- per-token


def token_batch(seed: int, n: int = 6, vocab: int = 11):
    """Completion tokens of a small random vocabulary: logits of policy and reference, labels, lengths."""
    rng = np.random.default_rng(seed)
    lengths = {"chosen": rng.integers(1, 9, n), "rejected": rng.integers(1, 9, n)}
    lengths["rejected"][0] = lengths["chosen"][0]  # one pair of equal lengths
    width = int(max(v.max() for v in lengths.values()))
    out = {}
    for side, lens in lengths.items():
        out[side] = {
            "policy": rng.normal(0, 2, (n, width, vocab)), "reference": rng.normal(0, 2, (n, width, vocab)),
            "labels": rng.integers(0, vocab, (n, width)), "mask": np.arange(width)[None, :] < lens[:, None],
            "lengths": lens,
        }
    return out


def log_softmax(x):
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def numpy_tokens(side: dict) -> dict:
    """The vocabulary's per-token values, from logits, in numpy (the reference for harness.token_inputs)."""
    lp, lr = log_softmax(side["policy"]), log_softmax(side["reference"])
    pick = np.take_along_axis
    labels = side["labels"][..., None]
    return {"policy": pick(lp, labels, -1)[..., 0] * side["mask"], "reference": pick(lr, labels, -1)[..., 0] * side["mask"],
            "log_sum_sq": np.logaddexp.reduce(2 * lp, axis=-1) * side["mask"],
            "kl": (np.exp(lr) * (lr - lp)).sum(-1) * side["mask"]}


def harness_tokens(side: dict) -> dict:
    """The same values computed the way training computes them (harness.token_inputs), in torch."""
    lp = torch.tensor(side["policy"]).log_softmax(-1)
    lr = torch.tensor(side["reference"]).log_softmax(-1)
    labels = torch.tensor(side["labels"]).unsqueeze(-1)
    mask = torch.tensor(side["mask"])
    return {"policy": lp.gather(-1, labels)[..., 0] * mask, "reference": lr.gather(-1, labels)[..., 0] * mask,
            "log_sum_sq": torch.logsumexp(2 * lp, -1) * mask, "kl": token_kl(lr, lp) * mask, "mask": mask}


def loss_inputs(data: dict) -> dict:
    inputs = {}
    for side in ("chosen", "rejected"):
        t = harness_tokens(data[side])
        inputs.update({
            f"policy_{side}_token_logps": t["policy"], f"reference_{side}_token_logps": t["reference"],
            f"policy_{side}_token_log_sum_sq_probs": t["log_sum_sq"], f"{side}_token_kl": t["kl"],
            f"{side}_token_mask": t["mask"], f"{side}_lengths": torch.tensor(data[side]["lengths"]),
            f"policy_{side}_logps": t["policy"].sum(-1), f"reference_{side}_logps": t["reference"].sum(-1),
        })  # fmt: skip
    return inputs


def test_the_harness_token_quantities_match_numpy():
    data = token_batch(0)
    for side in ("chosen", "rejected"):
        ours, ref = harness_tokens(data[side]), numpy_tokens(data[side])
        for key in ("policy", "reference", "log_sum_sq", "kl"):
            np.testing.assert_allclose(ours[key].numpy(), ref[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert (numpy_tokens(data["chosen"])["kl"] >= 0).all()


def test_layout_left_aligns_each_completion():
    shift_mask = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    values = torch.arange(18, dtype=torch.float64).view(3, 6)
    index, valid = layout(shift_mask)
    got = aligned(values, index, valid)
    assert got.tolist() == [[2, 3, 4], [7, 0, 0], [15, 16, 17]]
    assert valid.tolist() == [[True] * 3, [True, False, False], [True] * 3]
    torch.testing.assert_close(got.sum(1), (values * shift_mask).sum(1))


@pytest.mark.parametrize("beta", BETAS)
def test_wpo_matches_its_formula(beta):
    """Zhou et al. 2024, Eqs. 2-3: w = exp(mean_t [log p(y_t) - log sum_v p(v)^2]); loss = -w_w w_l log sig."""
    data = token_batch(1)
    ref = {side: numpy_tokens(data[side]) for side in ("chosen", "rejected")}
    weight = {s: np.exp((ref[s]["policy"] - ref[s]["log_sum_sq"]).sum(-1) / data[s]["lengths"]) for s in ref}
    rho = (ref["chosen"]["policy"] - ref["chosen"]["reference"]).sum(-1) - (
        ref["rejected"]["policy"] - ref["rejected"]["reference"]).sum(-1)
    expected = -logsig(beta * rho) * weight["chosen"] * weight["rejected"]
    ours = builtin_losses().get("wpo").load()(**loss_inputs(data), beta=beta)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("ld_alpha", [0.0, 0.3, 1.0])
def test_ld_dpo_matches_its_formula(ld_alpha):
    """Liu et al. 2024: full weight up to l_p = min(|y_w|, |y_l|), alpha after, on policy and reference."""
    data = token_batch(2)
    ref = {side: numpy_tokens(data[side]) for side in ("chosen", "rejected")}
    shared = np.minimum(data["chosen"]["lengths"], data["rejected"]["lengths"])[:, None]
    width = ref["chosen"]["policy"].shape[1]
    w = np.where(np.arange(width)[None, :] < shared, 1.0, ld_alpha)

    def hat(x):
        return (x * w).sum(-1)

    rho = (hat(ref["chosen"]["policy"]) - hat(ref["chosen"]["reference"])) - (
        hat(ref["rejected"]["policy"]) - hat(ref["rejected"]["reference"]))
    ours = builtin_losses().get("ld_dpo").load()(**loss_inputs(data), beta=0.1, ld_alpha=ld_alpha)
    np.testing.assert_allclose(ours.numpy(), -logsig(0.1 * rho), rtol=1e-9)
    if ld_alpha == 1.0:  # LD-DPO with alpha = 1 is DPO
        plain = (ref["chosen"]["policy"] - ref["chosen"]["reference"]).sum(-1) - (
            ref["rejected"]["policy"] - ref["rejected"]["reference"]).sum(-1)
        np.testing.assert_allclose(ours.numpy(), -logsig(0.1 * plain), rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0])
def test_tdpo_matches_the_authors_tdpo2(alpha):
    """Zeng et al. 2024, tdpo_loss(if_tdpo2=True): logits = margin - alpha (KL_l - sg(KL_w)), loss = -logsig(beta
    logits), KL = sum_t KL(ref || policy); and the stop-gradient: no gradient flows through the chosen KL."""
    data = token_batch(3)
    ref = {side: numpy_tokens(data[side]) for side in ("chosen", "rejected")}
    margin = {s: (ref[s]["policy"] - ref[s]["reference"]).sum(-1) for s in ref}
    kl = {s: ref[s]["kl"].sum(-1) for s in ref}
    expected = -logsig(0.2 * ((margin["chosen"] - margin["rejected"]) - alpha * (kl["rejected"] - kl["chosen"])))
    inputs = loss_inputs(data)
    inputs["chosen_token_kl"].requires_grad_(True)
    inputs["rejected_token_kl"].requires_grad_(True)
    ours = builtin_losses().get("tdpo").load()(**inputs, beta=0.2, alpha=alpha)
    np.testing.assert_allclose(ours.detach().numpy(), expected, rtol=1e-9)
    g_chosen, g_rejected = torch.autograd.grad(ours.sum(), [inputs["chosen_token_kl"], inputs["rejected_token_kl"]],
                                               allow_unused=True)
    assert g_chosen is None or torch.equal(g_chosen, torch.zeros_like(g_chosen))
    assert alpha == 0.0 or (g_rejected != 0).any()


def _sampo():
    return builtin_losses().get("sampo").load()


def test_sampo_draws_min_length_tokens_uniformly_without_replacement():
    sampled = _sampo()._fn.__globals__["_sampled"]
    mask = torch.arange(10).unsqueeze(0) < torch.tensor([[10], [7], [3]])
    keep = torch.tensor([4, 7, 1])
    hits = torch.zeros(3, 10)
    for seed in range(400):
        drawn = sampled(mask, keep, [seed, seed + 1, seed + 2])
        assert drawn.sum(1).tolist() == keep.tolist() and not (drawn & ~mask).any()
        hits += drawn
    share = hits[0] / 400  # 4 of 10 positions: each kept 40% of the time
    assert ((share - 0.4).abs() < 0.1).all(), share
    assert torch.equal(hits[1, :7], torch.full((7,), 400.0))  # the shorter answer keeps every token


@pytest.mark.parametrize("beta", BETAS)
def test_sampo_matches_its_formula_on_the_tokens_it_drew(beta):
    """Lu et al. 2024: r = beta * sum over the kept tokens of log(pi/pi_ref), the same tokens for policy and
    reference; loss = -logsig(r_w - r_l). Equal lengths keep every token: DPO."""
    data = token_batch(4)
    inputs = loss_inputs(data)
    loss = _sampo()
    ours = loss(**inputs, beta=beta).numpy()
    again = loss(**inputs, beta=beta).numpy()
    assert np.array_equal(ours, again)  # deterministic
    ref = {side: numpy_tokens(data[side]) for side in ("chosen", "rejected")}
    lengths = {s: data[s]["lengths"] for s in ref}
    keep = np.minimum(lengths["chosen"], lengths["rejected"])
    rhos = []
    for i in range(len(keep)):
        per_side = {}
        for s in ref:
            ratio = (ref[s]["policy"][i] - ref[s]["reference"][i])[: lengths[s][i]]
            per_side[s] = ratio  # every kept subset of keep[i] tokens is one of these combinations
        rhos.append(per_side)
    for i, r in enumerate(rhos):  # invert the loss to the margin and check it is a sum over keep[i] tokens
        margin = -np.log(np.expm1(ours[i])) / beta  # loss = log(1 + e^{-beta m})
        if lengths["chosen"][i] == lengths["rejected"][i]:
            assert margin == pytest.approx(r["chosen"].sum() - r["rejected"].sum(), rel=1e-6, abs=1e-6)
        long, short = ("chosen", "rejected") if lengths["chosen"][i] > lengths["rejected"][i] else ("rejected", "chosen")
        sign = 1 if long == "chosen" else -1
        candidates = [sign * (sum(c) - r[short].sum()) for c in itertools.combinations(r[long], keep[i])]
        assert min(abs(c - margin) for c in candidates) < 1e-6 * (1 + abs(margin)), i
