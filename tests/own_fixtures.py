"""Small things a user would bring, made here: a tiny random Llama folder with a byte-level tokenizer and
a ChatML template (no download, no package), preference data, a code judge and a suite spec."""

from __future__ import annotations

import json
from pathlib import Path

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TOPICS = ("tea", "rain", "bikes", "music", "bread", "snow", "trains", "bees", "maps", "clocks", "boats", "owls")


def tokenizer(template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<pad>",
                                  additional_special_tokens=["<|im_start|>"])
    if template:
        tok.chat_template = template
    return tok


def model_folder(path: Path, *, template: str | None = CHATML, context: int = 512, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer(template)
    torch.manual_seed(seed)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=context,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def rows(n_prompts: int = 12, per_prompt: int = 2) -> list[dict]:
    """Preferences where the chosen answer names the topic and the rejected one does not."""
    out = []
    for i in range(n_prompts):
        topic = TOPICS[i % len(TOPICS)] + ("" if i < len(TOPICS) else f" {i}")
        for j in range(per_prompt):
            out.append({"prompt": f"Say something about {topic}.",
                        "chosen": f"{topic.capitalize()} is nice{'!' * (j + 1)}",
                        "rejected": f"I do not know{'.' * (j + 1)}"})
    return out


def write_jsonl(path: Path, data: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    return path


CODE_JUDGE = '''def score(prompt, answer):
    """1 per word of the prompt's topic that the answer repeats (a stand-in for a real check)."""
    topic = prompt.removeprefix("Say something about ").rstrip(".").lower().split()
    return float(sum(w in answer.lower() for w in topic)) + 0.001 * min(len(answer), 50)
'''


def spec(folder: Path, *, name: str = "my-prefs", data: list[dict] | None = None, **extra) -> Path:
    """A user's suite spec in ``folder`` with data, model and a code judge beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "prefs.jsonl", rows() if data is None else data)
    if not (folder / "model" / "config.json").exists():
        model_folder(folder / "model")
    (folder / "judge.py").write_text(CODE_JUDGE)
    body = {"name": name, "data": "prefs.jsonl", "model": "model", "judge": {"kind": "code", "path": "judge.py"},
            "data_options": {"eval_fraction": 0.25}, "train": {"steps": 2, "batch_size": 2, "warmup_steps": 0},
            "eval_generation": {"max_new_tokens": 8, "samples_per_prompt": 1, "batch_size": 8}, **extra}
    (folder / "suite.json").write_text(json.dumps(body, indent=1))
    return folder / "suite.json"
