"""Build a user suite's artifacts once: tokenised train pairs with reference log-probs, held-out prompts
and their reference answers (the untrained model's, or the data's chosen ones).

``check_sources`` runs before every build or cache use: the data and the model folder must still be
the ones ``harness suites add`` fingerprinted (a record must never claim a model or data it did not use).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from harness.suites import cache
from harness.suites.own import data as own_data
from harness.suites.own import template

LOGP_BATCH = 8


class SourceChanged(RuntimeError):
    """The data or model folder differs from what the suite file fingerprinted."""


def folder_fingerprint(folder) -> str:
    """sha256 over every file's relative path and sha256 in ``folder`` (a model: weights, config, tokenizer)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = {str(p.relative_to(folder)): cache.file_sha256(p) for p in files}
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


def check_sources(config) -> None:
    """Raise SourceChanged (with the fix) unless the data and model are the fingerprinted ones."""
    redo = f"run `harness suites add` again for suite {config.name!r} (it re-validates and re-fingerprints them)"
    if not Path(config.model, "config.json").is_file():
        raise SourceChanged(f"the model folder {config.model} is gone or has no config.json; {redo}")
    rows = own_data.read_preferences(config.data.path)
    if own_data.fingerprint(rows) != config.data.fingerprint:
        raise SourceChanged(f"the data {config.data.path} changed since the suite was added (fingerprint "
                            f"{own_data.fingerprint(rows)[:12]}, recorded {config.data.fingerprint[:12]}); {redo}")
    if folder_fingerprint(config.model) != config.model_fingerprint:
        raise SourceChanged(f"the model folder {config.model} changed since the suite was added; {redo}")


def load_model(folder, *, device: str = "cpu"):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    template.check_model(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)
    return model, tokenizer


def eval_texts(config, tokenizer, held: list, limit: int | None) -> list[str]:
    texts = [template.prompt_text(tokenizer, r, config.data.system) for r in held]
    new = config.eval_generation.max_new_tokens
    long = [i for i, t in enumerate(texts) if limit and len(tokenizer.encode(t, add_special_tokens=False)) + new > limit]
    if long:
        raise template.TemplateError(f"{len(long)} held-out prompts leave no room for {new} new tokens in the "
                                     f"context of {limit}; lower eval_generation.max_new_tokens or shorten them")
    return texts


def build(folder: Path, config, progress: bool = True) -> None:
    import torch

    from harness.generation.hf import HFGenerator
    from harness.suites.logprobs import reference_logps

    timings: dict[str, float] = {}
    torch.set_num_threads(cache.BUILD_THREADS)
    t = time.perf_counter()
    rows = own_data.read_preferences(config.data.path)
    d = config.data
    train_rows, held = own_data.split(rows, seed=d.split_seed, eval_fraction=d.eval_fraction, eval_max=d.eval_max)
    model, tokenizer = load_model(config.model)
    limit = d.max_length or template.context_length(model.config, tokenizer)
    pairs = template.tokenize_rows(tokenizer, train_rows, max_length=limit, system=d.system, what="train row")
    texts = eval_texts(config, tokenizer, held, limit)
    timings["setup"] = time.perf_counter() - t

    t = time.perf_counter()
    reference_logps(pairs, model, tokenizer.pad_token_id, batch_size=LOGP_BATCH)
    timings["reference_logps"] = time.perf_counter() - t

    t = time.perf_counter()
    if config.reference == "model":
        generator = HFGenerator(model, tokenizer, source=config.model)
        references = [[c.text for c in group] for group in generator.generate(texts, config.eval_generation)]
        made_by = generator.describe()
    else:
        references, made_by = [[r.chosen] for r in held], {"reference": "the data's chosen answers"}
    timings["reference_answers"] = time.perf_counter() - t

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.json").write_text(json.dumps(pairs))
    eval_rows = [{"prompt": r.user_text, "messages": [list(m) for m in r.messages], "text": text, "reference": ref}
                 for r, text, ref in zip(held, texts, references, strict=True)]
    (folder / "eval.json").write_text(json.dumps(eval_rows))
    stats = {"timings": timings, "rows": len(rows), "train_pairs": len(pairs), "eval_prompts": len(held),
             "context_limit": limit, "data_fingerprint": own_data.fingerprint(rows), "reference_by": made_by}
    (folder / "build.json").write_text(json.dumps(stats, indent=1))
    if progress:
        import sys

        print(f"{config.name}: built {len(pairs)} train pairs, {len(held)} held-out prompts", file=sys.stderr)


class OwnArtifacts:
    def __init__(self, folder: Path, config):
        from datasets import Dataset

        self.folder = folder
        rows = json.loads((folder / "pairs.json").read_text())
        columns = ("prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps")
        self.train_dataset = Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
        self.eval_rows = json.loads((folder / "eval.json").read_text())
        self.stats = json.loads((folder / "build.json").read_text())
        self.model_folder = Path(config.model)


def load(folder: Path, config) -> OwnArtifacts:
    return OwnArtifacts(folder, config)
