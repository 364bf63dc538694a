"""The one training path for every suite: TRL's DPOTrainer with the candidate loss hooked in.

``BridgedDPOTrainer`` overrides TRL 1.16's ``DPOTrainer._compute_loss``: the policy forward is
TRL's (fused LM head, summed completion log-probs), the reference log-probs come precomputed from
the suite cache (dataset columns ``ref_chosen_logps`` / ``ref_rejected_logps``), and the loss value
and its gradient come from the loss session through ``bridged_mean_loss`` (the sandbox bridge).

What TRL would otherwise do per candidate, and why it is skipped here (measured, issue 9):
* tokenisation (``_prepare_dataset``, ~7.5 s with init): the suite cache already holds token ids;
  ``_prepare_dataset`` only checks the columns.
* reference log-probs (``_precompute_ref_logps``, ~5.5 s): computed once per suite at build time;
  the override only checks the columns.

Input contract (the same in ``harness check``, here and in every suite; harness.check_probes.INPUT_DTYPES):
log-probs in the policy's floating dtype, lengths int64 token counts, all of shape (B,) with B the
per-device batch size. Training guards itself: a non-finite loss, gradient (norm) or weight ends the
seed with the candidate status ``diverged`` and the step (``Diverged``); it never surfaces later as a
failure of sampling or judging, which would look like a harness fault.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from harness.vocabulary import TOKEN_INPUTS

if TYPE_CHECKING:
    from harness.session import LossSession

TOKEN_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
OPTIMIZERS = ("adamw_torch", "rmsprop", "sgd")  # transformers ``optim`` names; the first is the default
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 2e-4  # one shared lr for every loss (the prototype)
    steps: int = 128  # optimizer steps; 128 x 64 pairs = one pass over the tiny suite's 8,192 pairs
    batch_size: int = 64  # pairs per step
    checkpoint_every: int = 16  # in-memory evaluation cadence, for the matched-KL trajectory
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    threads: int = 1  # torch intra-op threads per training process (harness.runtime: the CPU policy); fixed,
    # so that a seed's numbers do not depend on the machine's cores
    optimizer: str = "adamw_torch"  # a transformers ``optim`` name; the DPO paper used "rmsprop" (Rafailov
    # et al., 2023, App. B: RMSprop, lr 1e-6, 150 linear warmup steps)

    def __post_init__(self):
        if self.steps % self.checkpoint_every:
            raise ValueError(f"steps ({self.steps}) must be a multiple of checkpoint_every ({self.checkpoint_every})")
        if self.learning_rate <= 0 or self.batch_size <= 0 or self.threads <= 0:
            raise ValueError("learning_rate, batch_size and threads must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")

    def as_dict(self) -> dict:
        # the default optimizer is left out, so configs (and their hashes) made before the field existed
        # stay the same
        d = asdict(self)
        if d["optimizer"] == OPTIMIZERS[0]:
            del d["optimizer"]
        return d


def Diverged(step: int, what: str) -> Exception:  # noqa: N802 - reads as the exception it builds
    """The error that ends a seed whose training produced a non-finite loss, gradient or weight."""
    from harness.session import LossCallError

    return LossCallError("diverged", f"training diverged at step {step}: {what}")


@functools.cache
def _classes():
    """TRL and the trainer subclass, imported on first use (``harness suites`` must start fast)."""
    import torch
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from harness import token_inputs as ti  # the per-token path (imports torch, like the rest here)
    from harness.sandbox.bridge import bridged_mean_loss, renew
    from harness.sandbox.client import NonFiniteReply

    class BridgedDPOTrainer(DPOTrainer):
        """DPOTrainer whose loss is a candidate loss file evaluated through a ``LossSession``."""

        def __init__(self, *args, session: LossSession, **kwargs):
            renew(session)  # one trainer trains one seed: its loss starts in a fresh sandbox session
            self.session = session
            self.loss_seconds = 0.0
            # a loss that declares per-token inputs takes the per-token path (harness.token_inputs)
            self.token_inputs = tuple(n for n in session.params if n in TOKEN_INPUTS)
            self.reference_gap = None
            super().__init__(*args, **kwargs)
            self.add_callback(_DivergenceGuard())  # every user of the trainer (the paper suites too)
            self._reference = None
            if self.token_inputs:
                self._prepare_token_inputs()

        def _prepare_token_inputs(self):
            """A frozen copy of the initial policy (every suite's reference) and, for WPO's input, the
            fused head's log sum_v p(v)^2 output."""
            import copy

            from trl.trainer.utils import add_fused_lm_head

            if ti.needs_reference(self.token_inputs):
                self._reference = copy.deepcopy(self.model).eval().requires_grad_(False)
            if ti.needs_log_sum_sq(self.token_inputs):
                add_fused_lm_head(self.model, outputs=("log_probs", "log_sum_sq_probs"))

        def training_step(self, model, inputs, *args, **kwargs):
            """TRL's step, then the gradient's norm BEFORE clipping: clipping an infinite norm zeroes or
            NaNs the gradient, which would hide the divergence or move it to the weights."""
            loss = super().training_step(model, inputs, *args, **kwargs)
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0) if grads else torch.zeros(())
            if not torch.isfinite(norm):
                raise Diverged(self.state.global_step + 1, f"the policy's gradient norm is {float(norm)}")
            return loss

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            missing = [c for c in TOKEN_COLUMNS + REF_COLUMNS if c not in dataset.column_names]
            if missing:
                raise ValueError(f"{dataset_name} dataset lacks pre-tokenised column(s) {missing}; "
                                 "the suite build writes them")
            return dataset

        def _precompute_ref_logps(self, dataset, name, batch_size):
            return dataset  # already in the dataset (checked by _prepare_dataset)

        def _compute_loss(self, model, inputs, return_outputs):
            completion_mask = inputs["completion_mask"]
            shift_mask = completion_mask[..., 1:]
            if self.token_inputs:
                per_token, outputs = self._token_forward(model, inputs)
            else:  # the sequence-level fast path: one fused forward, nothing per token leaves it
                labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
                outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                labels=labels, use_cache=False, fused_lm_head=True)
                per_token = {"policy": outputs.log_probs[:, -shift_mask.size(1):]}
            chosen, rejected = per_token["policy"].sum(dim=1).chunk(2, dim=0)
            chosen_len, rejected_len = shift_mask.sum(dim=1).chunk(2, dim=0)
            loss_inputs = {
                "policy_chosen_logps": chosen, "policy_rejected_logps": rejected,
                "reference_chosen_logps": inputs["ref_chosen_logps"].to(chosen.dtype),
                "reference_rejected_logps": inputs["ref_rejected_logps"].to(chosen.dtype),
                "chosen_lengths": chosen_len.long(), "rejected_lengths": rejected_len.long(),
            }
            if self.token_inputs:
                loss_inputs.update(ti.vocabulary_inputs(per_token, shift_mask, self.token_inputs, chosen.dtype))
            step = self.state.global_step + 1
            try:
                mean, reply = bridged_mean_loss(self.session, loss_inputs, self.beta)
            except NonFiniteReply as e:
                raise Diverged(step, e.message) from None
            self.loss_seconds += reply.seconds
            if not torch.isfinite(reply.losses).all():
                raise Diverged(step, "the loss returned a non-finite value")
            for name, g in reply.grads.items():
                if not torch.isfinite(g).all():
                    raise Diverged(step, f"the gradient w.r.t. {name} is non-finite")
            mode = "train" if model.training else "eval"
            margin = self.beta * ((chosen - loss_inputs["reference_chosen_logps"])
                                  - (rejected - loss_inputs["reference_rejected_logps"])).detach()
            self._metrics[mode]["rewards/margins"].append(margin.mean().item())
            self._metrics[mode]["rewards/accuracies"].append((margin > 0).float().mean().item())
            return (mean, outputs) if return_outputs else mean

        def _token_forward(self, model, inputs):
            """The per-token path's forward (harness.token_inputs), its reference checked once against the
            suite's cached summed reference log-probs."""
            per_token, outputs = ti.forward(model, self._reference, inputs, self.token_inputs)
            if self.reference_gap is None:
                gap = ti.reference_gap(per_token, (inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]))
                if gap is not None and gap > ti.MAX_REFERENCE_GAP:
                    raise RuntimeError(f"the per-token reference (the initial policy) differs from the suite's "
                                       f"cached reference log-probs by {gap:.3g} nats: not the same model")
                self.reference_gap = gap
            return per_token, outputs

    class _DivergenceGuard(TrainerCallback):
        """Non-finite weights after the optimizer step: ``diverged`` (gradients: ``training_step``)."""

        def on_optimizer_step(self, args, state, control, model=None, **kwargs):
            for name, p in model.named_parameters():
                if not torch.isfinite(p).all():
                    raise Diverged(state.global_step + 1, f"the policy's weights {name} became non-finite")

    class _CheckpointCallback(TrainerCallback):
        def __init__(self, every: int, evaluate: Callable[[object, int], None]):
            self.every = every
            self.evaluate = evaluate

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % self.every == 0:
                self.evaluate(model, state.global_step)

    return BridgedDPOTrainer, _CheckpointCallback, DPOConfig, _DivergenceGuard


def trainer_class():
    """``BridgedDPOTrainer`` (TRL's DPOTrainer with the loss through a session), for suites with their own
    schedule (the paper suites' GPU job)."""
    return _classes()[0]


def preload() -> None:
    """Import TRL, the trainer subclass and the Llama model code (~3 s) ahead of the first seed, so that
    ``run_bench`` can do it in a helper thread while the sandbox starts."""
    _classes()
    import transformers.models.llama.modeling_llama  # noqa: F401


def dpo_args(cfg: TrainConfig, *, beta: float, seed: int, output_dir: str):
    """TRL settings: no saving, logging, reporting or dataloader workers (all in memory, on CPU)."""
    config_cls = _classes()[2]
    return config_cls(
        output_dir=output_dir, beta=beta, seed=seed, data_seed=seed, learning_rate=cfg.learning_rate,
        max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=1,
        lr_scheduler_type="constant_with_warmup" if cfg.warmup_steps else "constant",
        warmup_steps=cfg.warmup_steps, weight_decay=0.0, max_grad_norm=cfg.max_grad_norm, optim=cfg.optimizer,
        precompute_ref_log_probs=True, max_length=None, save_strategy="no", eval_strategy="no",
        logging_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
        remove_unused_columns=False, bf16=False, fp16=False,
        # TRL defaults checkpointing on; at this size it only recomputes (2x slower). transformers 5 renamed
        # the setting (the old name warns "deprecated ... removed in v6" in every run)
        **{_checkpointing_field(config_cls): False},
    )


def _checkpointing_field(config_cls) -> str:
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def train(model, dataset, tokenizer, session: LossSession, cfg: TrainConfig, *, beta: float, seed: int,
          output_dir: str, evaluate: Callable[[object, int], None]) -> dict:
    """Train ``model`` in place; ``evaluate(model, step)`` runs at step 0 and every checkpoint."""
    import torch

    from harness.environment import make_deterministic

    trainer_cls, callback_cls, _, _ = _classes()
    torch.set_num_threads(cfg.threads)
    make_deterministic()
    trainer = trainer_cls(
        model=model, args=dpo_args(cfg, beta=beta, seed=seed, output_dir=output_dir), train_dataset=dataset,
        processing_class=tokenizer, session=session,
        callbacks=[callback_cls(cfg.checkpoint_every, evaluate)],
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    # Trainer prints its final metrics to stdout; `harness bench --json` owns stdout.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    evaluate(trainer.model, 0)
    trainer.train()
    return {"loss_seconds": trainer.loss_seconds}
