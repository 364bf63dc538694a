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
