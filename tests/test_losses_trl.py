"""Differential tests: each built-in loss that TRL implements equals TRL's own value on the same inputs.

For DPOTrainer losses we build a real ``DPOTrainer`` (tiny random Llama, word-level tokenizer, no hub)
with the loss_type under test and ``precompute_ref_log_probs=True``, collate a real batch, overwrite the
reference log-probs with random values (so the log-ratios are far from zero; a reference equal to the
policy would make every margin 0 and the test weak), and run TRL's ``_compute_loss``. A forward hook
records the per-token log-probs TRL summed, so our file sees exactly the same summed log-probs and
completion lengths. Each pair is scored on its own, so the comparison is per example, not only of
the batch mean. Tolerance: relative error <= 1e-5 (plus 1e-7 absolute for exact zeros of the hinge).

SimPO and ORPO are not DPOTrainer losses: their TRL loss methods (experimental CPOTrainer.cpo_loss,
ORPOTrainer.odds_ratio_loss) are called directly on the same average log-probs. ORPO's NLL term is
per example in our file, while TRL averages it over all chosen tokens of the batch, so only the
odds-ratio term is compared with TRL.

Issue 31's built-ins: the per-pair ones join the table below (f-DPO's three divergences; cDPO is TRL's
"aot" on one pair, where sorting does nothing and the loss is cDPO's label-smoothed logistic loss).
Batch losses (AOT, SFT, RPO and MPO as TRL loss_type lists, WPO's weights, LD-DPO) are compared on
whole batches against TRL's scalar, their per-token inputs taken from TRL's own forward (hooks on the
policy's and the reference's fused LM head) and laid out as training lays them out
(harness.token_inputs). CPO and AlphaPO are CPOTrainer.cpo_loss, like SimPO.
"""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

import pytest
import torch

from harness.lossfile import load_loss
from harness.paths import builtin_losses_dir

pytestmark = pytest.mark.slow  # imports TRL and builds ~25 tiny trainers (about 10-20 s on 2 cores)

RTOL, ATOL = 1e-5, 1e-7

# our file -> (TRL loss_type, extra DPOConfig settings our file hard-codes)
DPO_TRAINER_LOSSES = {
    "dpo": ("sigmoid", {}),
    "slic": ("hinge", {}),
    "ipo": ("ipo", {}),
    "robust": ("robust", {"label_smoothing": 0.1}),
    "exo_pair": ("exo_pair", {"label_smoothing": 1e-3}),
    "nca_pair": ("nca_pair", {}),
    "bco_pair": ("bco_pair", {}),
    "sppo_hard": ("sppo_hard", {}),
    "apo_zero": ("apo_zero", {}),
    "apo_down": ("apo_down", {}),
    "discopop": ("discopop", {"discopop_tau": 0.05}),
    "sigmoid_norm": ("sigmoid_norm", {}),
    "cdpo": ("aot", {"label_smoothing": 0.1}),  # one pair: AOT's sort is the identity, the loss is cDPO's
    "fdpo_forward_kl": ("sigmoid", {"f_divergence_type": "forward_kl"}),
    "fdpo_js_divergence": ("sigmoid", {"f_divergence_type": "js_divergence"}),
    "fdpo_alpha_divergence": ("sigmoid", {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.5}),
}

WORDS = "the a cat dog sat on mat ran fast slow good bad yes no red blue big small".split()
PAIRS = {
    "prompt": ["the cat", "a dog", "the mat", "yes no", "red big", "small blue dog"],
    "chosen": [" sat on the mat", " ran fast", " good", " yes yes no the cat", " blue", " ran on a big mat"],
    "rejected": [" bad", " ran slow on a mat the", " bad bad", " no", " red red red small", " sat"],
}


@pytest.fixture(scope="module")
def tiny():
    transformers = pytest.importorskip("transformers")
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, bos_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    ref = transformers.LlamaForCausalLM(config)
    return SimpleNamespace(tokenizer=tokenizer, model=model, ref=ref, dataset=Dataset.from_dict(PAIRS))


def trl_per_example(tiny, loss_type: str, beta: float, extra: dict, seed: int):
    """Run TRL's DPOTrainer loss pair by pair; return (TRL losses, the inputs TRL used)."""
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="harness-trl-"), loss_type=[loss_type], beta=beta,
        precompute_ref_log_probs=True, per_device_train_batch_size=len(PAIRS["prompt"]),
        report_to=[], use_cpu=True, seed=seed, **extra,
    )  # fmt: skip
    trainer = DPOTrainer(
        model=tiny.model, ref_model=tiny.ref, args=args, train_dataset=tiny.dataset, processing_class=tiny.tokenizer
    )
    batch = next(iter(trainer.get_train_dataloader()))
    n = batch["input_ids"].shape[0] // 2
    gen = torch.Generator().manual_seed(seed)
    # Reference log-probs far from the policy's (a copy of the policy would make every margin 0): the
    # reference margins rc - rr span -40..40 while the tiny policy's pc - pr stays within about +-20,
    # so the margins rho have both signs and reach tens of nats.
    ref_margin = torch.linspace(-40, 40, n)[torch.randperm(n, generator=gen)]
    ref_level = -torch.rand(n, generator=gen) * 10 - 25
    batch["ref_chosen_logps"] = ref_level + ref_margin / 2
    batch["ref_rejected_logps"] = ref_level - ref_margin / 2
    captured = {}

    def hook(module, args, output):
        captured["log_probs"] = output.log_probs.detach()

    handle = trainer.model.register_forward_hook(hook)
    losses, policy_logps = [], []
    try:
        with torch.no_grad():
            for i in range(n):
                rows = [i, n + i]
                pair = {k: v[rows] for k, v in batch.items() if k not in ("ref_chosen_logps", "ref_rejected_logps")}
                pair["ref_chosen_logps"] = batch["ref_chosen_logps"][i : i + 1]
                pair["ref_rejected_logps"] = batch["ref_rejected_logps"][i : i + 1]
                losses.append(trainer._compute_loss(trainer.model, pair, return_outputs=False).detach())
                seq_len = pair["completion_mask"].shape[1] - 1
                policy_logps.append(captured["log_probs"][:, -seq_len:].sum(dim=1))
    finally:
        handle.remove()
    policy = torch.stack(policy_logps)  # (n, 2): chosen, rejected
    lengths = batch["completion_mask"].sum(dim=1)
    inputs = {
        "policy_chosen_logps": policy[:, 0],
        "policy_rejected_logps": policy[:, 1],
        "reference_chosen_logps": batch["ref_chosen_logps"],
        "reference_rejected_logps": batch["ref_rejected_logps"],
        "chosen_lengths": lengths[:n],
        "rejected_lengths": lengths[n:],
    }
    return torch.stack(losses), inputs


@pytest.mark.parametrize("beta", [0.05, 0.5])
@pytest.mark.parametrize("name", sorted(DPO_TRAINER_LOSSES))
def test_builtin_matches_trl_dpo_trainer(tiny, name, beta):
    loss_type, extra = DPO_TRAINER_LOSSES[name]
    expected, inputs = trl_per_example(tiny, loss_type, beta, extra, seed=len(name))
    ours = load_loss(builtin_losses_dir() / f"{name}.py")(**inputs, beta=beta)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, rtol=RTOL, atol=ATOL)
    # The inputs really exercise the loss: margins of both signs and not all tiny.
    rho = (inputs["policy_chosen_logps"] - inputs["reference_chosen_logps"]) - (
        inputs["policy_rejected_logps"] - inputs["reference_rejected_logps"]
    )
    assert (rho > 0).any() and (rho < 0).any() and rho.abs().max() > 5


def average_logps(seed: int, n: int = 16):
    gen = torch.Generator().manual_seed(seed)
    summed = -torch.rand(2, n, generator=gen, dtype=torch.float64).float() * 60 - 0.5
    lengths = torch.randint(1, 40, (2, n), generator=gen)
    return summed, lengths


def test_simpo_matches_trl_cpo_simpo():
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    summed, lengths = average_logps(1)
    # SimPO in TRL: CPOTrainer with loss_type="simpo" on average log-probs, simpo_gamma / beta margin.
    fake = SimpleNamespace(
        alpha=0.0, loss_type="simpo", simpo_gamma=1.0, beta=2.0, label_smoothing=0.0,
        accelerator=SimpleNamespace(device=torch.device("cpu")),
    )  # fmt: skip
    expected, _, _ = CPOTrainer.cpo_loss(fake, summed[0] / lengths[0], summed[1] / lengths[1])
    ours = load_loss(builtin_losses_dir() / "simpo.py")(
        policy_chosen_logps=summed[0], policy_rejected_logps=summed[1],
        chosen_lengths=lengths[0], rejected_lengths=lengths[1],
    )  # fmt: skip
    torch.testing.assert_close(ours, expected, rtol=RTOL, atol=ATOL)


def test_orpo_odds_ratio_term_matches_trl():
    from trl.experimental.orpo.orpo_trainer import ORPOTrainer

    summed, lengths = average_logps(2)
    chosen_avg, rejected_avg = summed[0] / lengths[0], summed[1] / lengths[1]
    fake = SimpleNamespace(beta=0.1, accelerator=SimpleNamespace(device=torch.device("cpu")))
    trl_terms = ORPOTrainer.odds_ratio_loss(fake, chosen_avg, rejected_avg)[0]  # beta * log sigmoid(log_odds)
    ours = load_loss(builtin_losses_dir() / "orpo.py")(
        policy_chosen_logps=summed[0], policy_rejected_logps=summed[1],
        chosen_lengths=lengths[0], rejected_lengths=lengths[1],
    )  # fmt: skip
    # TRL's ORPO loss is NLL - mean(beta * log sigmoid(log_odds)); our NLL term per example is -chosen_avg.
    torch.testing.assert_close(ours - (-chosen_avg), -trl_terms, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------------- issue 31


def trl_batch(tiny, loss_type: list, beta: float, extra: dict, seed: int):
    """TRL's scalar loss on one whole batch, and our loss inputs (sequence and per-token) from the very
    forward TRL ran: the reference is a model (no precomputation), so its per-token log-probs exist too."""
    from trl import DPOConfig, DPOTrainer

    from harness.token_inputs import vocabulary_inputs
    from harness.vocabulary import TOKEN_INPUTS

    args = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="harness-trl-"), loss_type=loss_type, beta=beta,
        per_device_train_batch_size=len(PAIRS["prompt"]), report_to=[], use_cpu=True, seed=seed, **extra,
    )  # fmt: skip
    torch.manual_seed(seed)  # a reference far from the policy: log-ratios of both signs
    for p in tiny.ref.parameters():
        p.data.add_(torch.randn_like(p) * 0.5)
    trainer = DPOTrainer(model=tiny.model, ref_model=tiny.ref, args=args, train_dataset=tiny.dataset,
                         processing_class=tiny.tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    captured = {}

    def hook(key):
        def record(module, args, output):
            captured[key] = output
        return record

    handles = [trainer.model.register_forward_hook(hook("policy")), trainer.ref_model.register_forward_hook(hook("ref"))]
    try:
        with torch.no_grad():
            loss = trainer._compute_loss(trainer.model, batch, return_outputs=False)
    finally:
        for h in handles:
            h.remove()
    shift = batch["completion_mask"][:, 1:]
    n = shift.shape[0] // 2
    seq_len = shift.shape[1]
    per_token = {"policy": captured["policy"].log_probs[:, -seq_len:], "reference": captured["ref"].log_probs[:, -seq_len:]}
    if captured["policy"].log_sum_sq_probs is not None:
        per_token["log_sum_sq"] = captured["policy"].log_sum_sq_probs[:, -seq_len:]
    policy, reference = per_token["policy"].sum(1), per_token["reference"].sum(1)
    lengths = shift.sum(1)
    inputs = {"policy_chosen_logps": policy[:n], "policy_rejected_logps": policy[n:],
              "reference_chosen_logps": reference[:n], "reference_rejected_logps": reference[n:],
              "chosen_lengths": lengths[:n], "rejected_lengths": lengths[n:]}
    wanted = tuple(t for t in TOKEN_INPUTS if "kl" not in t and ("log_sum_sq" not in t or "log_sum_sq" in per_token))
    inputs.update(vocabulary_inputs(per_token, shift, wanted, policy.dtype))
    return loss.detach(), inputs


BATCH_LOSSES = {  # our file -> (TRL loss_type list, loss_weights, extra DPOConfig settings, our hyper-parameters)
    "aot": (["aot"], None, {"label_smoothing": 0.1}, {"label_smoothing": 0.1}),
    "aot_unpaired": (["aot_unpaired"], None, {}, {}),
    "sft": (["sft"], None, {}, {}),
    "rpo": (["sigmoid", "sft"], [1.0, 1.0], {}, {}),
    "mpo": (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0], {}, {}),
    "wpo": (["sigmoid"], None, {"use_weighting": True}, {}),
    "ld_dpo": (["sigmoid"], None, {"ld_alpha": 0.3}, {"ld_alpha": 0.3}),
}


@pytest.mark.parametrize("beta", [0.05, 0.5])
@pytest.mark.parametrize("name", sorted(BATCH_LOSSES))
def test_batch_and_per_token_builtins_match_trl(tiny, name, beta):
    loss_type, weights, extra, hyper = BATCH_LOSSES[name]
    expected, inputs = trl_batch(tiny, loss_type, beta, {**extra, "loss_weights": weights}, seed=len(name))
    ours = load_loss(builtin_losses_dir() / f"{name}.py")(**inputs, beta=beta, **hyper)
    assert ours.shape == (len(PAIRS["prompt"]),)
    torch.testing.assert_close(ours.mean(), expected, rtol=RTOL, atol=ATOL)
    rho = (inputs["policy_chosen_logps"] - inputs["reference_chosen_logps"]) - (
        inputs["policy_rejected_logps"] - inputs["reference_rejected_logps"])
    assert (rho > 0).any() and (rho < 0).any()
    assert (inputs["chosen_lengths"] != inputs["rejected_lengths"]).any()  # LD-DPO's tail is exercised


def test_cpo_matches_trl_cpo_sigmoid_plus_nll():
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    summed, lengths = average_logps(3)
    fake = SimpleNamespace(alpha=0.0, loss_type="sigmoid", beta=0.1, label_smoothing=0.0,
                           accelerator=SimpleNamespace(device=torch.device("cpu")))
    preference, _, _ = CPOTrainer.cpo_loss(fake, summed[0], summed[1])  # CPO: summed log-probs
    nll = -summed[0].sum() / lengths[0].sum()  # TRL's cross-entropy over every chosen token of the batch
    ours = load_loss(builtin_losses_dir() / "cpo.py")(
        policy_chosen_logps=summed[0], policy_rejected_logps=summed[1], chosen_lengths=lengths[0], beta=0.1)
    torch.testing.assert_close(ours, preference + 1.0 * nll, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("alpha", [0.25, -0.5])
def test_alphapo_matches_trl_cpo_alphapo(alpha):
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    summed, lengths = average_logps(4)
    fake = SimpleNamespace(alpha=alpha, loss_type="simpo", simpo_gamma=1.0, beta=2.0, label_smoothing=0.0,
                           accelerator=SimpleNamespace(device=torch.device("cpu")))
    expected, _, _ = CPOTrainer.cpo_loss(fake, summed[0] / lengths[0], summed[1] / lengths[1])
    ours = load_loss(builtin_losses_dir() / "alphapo.py")(
        policy_chosen_logps=summed[0], policy_rejected_logps=summed[1], chosen_lengths=lengths[0],
        rejected_lengths=lengths[1], alpha=alpha)
    torch.testing.assert_close(ours, expected, rtol=RTOL, atol=ATOL)
