"""The tiny suite's policy: a Llama-style causal LM built from a transformers config.

Hidden size 128, 2 layers, UNTIED input and output embeddings: with tied ones the prototype's DPO
policy collapsed (win rate 0.02), because pushing a word's output logit also moves its input
embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelConfig:
    hidden_size: int = 128  # width of the residual stream
    intermediate_size: int = 256  # width of the MLP (2x hidden keeps CPU steps cheap)
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 64  # longest prompt + completion, in words
    tie_embeddings: bool = False  # tied embeddings collapse under DPO at this scale (see module doc)

    def as_dict(self) -> dict:
        return asdict(self)


def build_model(cfg: ModelConfig, vocab_size: int, pad_id: int, eos_id: int, seed: int):
    """A freshly initialised model (initialisation seeded, so the suite build is reproducible)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=cfg.tie_embeddings, pad_token_id=pad_id, eos_token_id=eos_id,
        bos_token_id=eos_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = pad_id
    model.generation_config.eos_token_id = eos_id
    return model
