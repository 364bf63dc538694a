"""Word-level tokenizer of the tiny suite's language (one id per word; words are space-separated).

A ``transformers`` fast tokenizer, so that TRL's DPOTrainer and ``generate`` accept it unchanged.
"""

from __future__ import annotations

from pathlib import Path

from harness.suites.tiny import grammar


def build_tokenizer():
    """A fresh tokenizer over ``grammar.vocabulary()`` (ids are the vocabulary's order)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(grammar.vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=grammar.UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=grammar.EOS, pad_token=grammar.PAD, unk_token=grammar.UNK,
        padding_side="left",  # batched generation continues prompts of different lengths
    )


def load_tokenizer(path: str | Path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(path))
