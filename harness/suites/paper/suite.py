"""``PaperSuite``: one class runs every paper setup from its frozen config (config.py).

On a GPU host ``build()`` downloads the model and data by hub id (as usual there), formats the pairs
with the model's own chat template (formats.py), tokenises them and computes the reference log-probs
once (harness.suites.logprobs), and caches the result under ``cache_dir()/paper-<name>-<build_hash>/``. Tests pass
``local`` data files in the same schemas and a tiny random model of the same architecture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.hashing import config_hash
from harness.paths import cache_dir
from harness.suites import cache
from harness.suites.base import (
    DEFAULT_PLAN,
    Column,
    RunPlan,
    SuiteDefaults,
    SuiteResult,
    Summary,
    default_seed_list,
)
from harness.suites.paper import formats
from harness.suites.paper.config import PaperSuiteConfig

FORMAT_VERSION = 2  # of the built pairs and evaluation rows (part of the build hash)


@dataclass
class PaperArtifacts:
    folder: Path
    train_dataset: object  # datasets.Dataset: token ids + ref_chosen_logps / ref_rejected_logps
    eval_rows: list[dict]
    stats: dict


class PaperSuite(SuiteDefaults):
    """One of the paper's setups; its GPU job writes answers that are judged outside the container."""

    board_columns = (Column("win_rate", "win rate vs references", ci=True, percent=True),
                     Column("lc_win_rate", "LC win rate", ci=True, percent=True,
                            note="length-controlled win rate (AlpacaEval 2's GLM, harness.judges.winrate)"))
    gate_metric = "win_rate"
    judged_outside = True
    training_threads = None  # GPU jobs: the thread count is not a suite setting
    parallel_seeds = False  # one device: seeds run in sequence

    def __init__(self, config: PaperSuiteConfig):
        self.config = config
        self.name = config.name

    default_seed_count = 1  # a GPU job per seed

    def seed_list(self, n: int) -> list[int]:
        return default_seed_list((), n)

    def screen_overrides(self, fraction: float) -> dict:
        raise ValueError(f"suite {self.name!r} trains whole epochs (no train.steps setting); the cascade cannot "
                         "shorten it: use the plain bench evaluator")

    def config_hash(self) -> str:
        return config_hash(self.config.as_dict())

    def build_hash(self, local: dict | None = None) -> str:
        c = self.config
        key = {"model": c.model.policy, "data": c.data.__dict__, "max_length": c.train.max_length,
               "max_prompt_length": c.train.max_prompt_length, "seed": c.train.seed,
               # 2: pairs made identical by truncation dropped; evaluation ids hash the whole prompt
               "format_version": FORMAT_VERSION}
        if local:  # a local mirror is other data: its content keys the cache
            key["local"] = {k: cache.file_sha256(Path(v)) for k, v in sorted(local.items())}
        return config_hash(key)

    def cache_folder(self, local: dict | None = None) -> Path:
        return cache_dir() / f"paper-{self.name}-{self.build_hash(local)}"

    def with_overrides(self, overrides: dict) -> PaperSuite:
        from harness.suites.overrides import apply_overrides

        return PaperSuite(apply_overrides(self.config, overrides))

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.config.model.policy)
        if self.config.model.chat_template and not tokenizer.chat_template:
            raise formats.FormatError(f"{self.config.model.policy} has no chat template; this suite needs the "
                                      "model's own template")
        return tokenizer

    def load_model(self, device: str = "cuda"):
        import torch
        from transformers import AutoModelForCausalLM

        dtype = getattr(torch, self.config.model.dtype)
        return AutoModelForCausalLM.from_pretrained(self.config.model.policy, dtype=dtype).to(device)

    def pairs(self, tokenizer, *, local: dict | None = None, limit: int | None = None):
        """(token-id rows, their ``tokens.PairCounts``): pairs that truncation made identical are dropped."""
        from harness.suites.paper import tokens  # torch: imported by the suite's work, not its listing

        d, t = self.config.data, self.config.train
        rows = formats.load_split(d.train, d.train_split, d.train_config, local=(local or {}).get("train"))
        fmt = formats.PAIR_FORMATS.get(d.schema)
        texts = (fmt(row, tokenizer) for row in (rows.select(range(min(limit, len(rows)))) if limit else rows))
        return tokens.tokenize_pairs(tokenizer, texts, max_length=t.max_length, max_prompt_length=t.max_prompt_length)

    def eval_rows(self, tokenizer, *, local: dict | None = None) -> list[dict]:
        d = self.config.data
        rows = formats.load_split(d.eval, d.eval_split, d.eval_config, local=(local or {}).get("eval"))
        return formats.eval_rows(rows, d.eval_schema, tokenizer, limit=d.eval_limit, seed=self.config.train.seed)

    def build(self, *, progress: bool = True, local: dict | None = None, tokenizer=None, model=None,
              device: str = "cuda", limit: int | None = None) -> PaperArtifacts:
        """Pairs with reference log-probs (computed once, cached) and formatted eval prompts."""
        if device == "cuda" and model is None:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError(f"suite {self.name!r} needs a CUDA GPU host ({self.config.hardware}); run it "
                                   "there (Dockerfile, containers/launch.py); on a CPU use the smol or tiny suite")
        tokenizer = tokenizer or self.load_tokenizer()

        def _build(folder: Path) -> None:
            rows, counts = self.pairs(tokenizer, local=local, limit=limit)
            ref = model or self.load_model(device)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            from harness.suites.logprobs import reference_logps

            reference_logps(rows, ref, pad)
            (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            (folder / "eval.json").write_text(json.dumps(self.eval_rows(tokenizer, local=local)))
            (folder / "build.json").write_text(json.dumps({"pairs": len(rows), "config_hash": self.config_hash(),
                                                           "pair_counts": counts.as_dict()}))

        folder = cache.ensure(self.cache_folder(local), _build)
        return self.load(folder)

    def load(self, folder: Path) -> PaperArtifacts:
        from datasets import Dataset

        rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
        columns = ("prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps")
        dataset = Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
        return PaperArtifacts(folder, dataset, json.loads((folder / "eval.json").read_text()),
                              json.loads((folder / "build.json").read_text()))

    def train_and_generate(self, artifacts, session, *, seed: int, beta: float | None = None, out_dir,
                           device: str = "cuda", gpus: int = 1, generator: str | None = None) -> dict:
        """Train one candidate and write its answers (the GPU job; judging happens outside)."""
        from harness.suites.paper.job import train_and_generate

        beta = self.config.train.beta if beta is None else beta
        return train_and_generate(self, artifacts, session, seed=seed, beta=beta, out_dir=out_dir, device=device,
                                  gpus=gpus, generator=generator)

    def seed_job(self, artifacts, session, seed: int, beta: float, *, device: str = "cuda", gpus: int = 1,
                 work_dir=None) -> dict:
        """The GPU job for one seed (train -> generate) with its answers inline; judged in the controller."""
        from harness.suites.paper.judging import seed_job

        return seed_job(self, artifacts, session, seed, beta, device=device, gpus=gpus, work_dir=work_dir)

    def pool_seed_jobs(self, artifacts, outputs: list[dict], seeds: list[int], *, judge=None) -> SuiteResult:
        """The suite's LLM judge on every seed's answers, here (a judge's API key never enters a job)."""
        from harness.suites.paper.judging import judge_seed_jobs

        return judge_seed_jobs(self, artifacts, outputs, seeds, judge=judge)

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
                  plan: RunPlan = DEFAULT_PLAN, judge=None, device: str | None = None) -> SuiteResult:
        """`harness bench` on this host: per seed the job (train -> generate), then the suite's LLM judge
        (judging.py). IMDb has no judge: its frontier points come from the job (imdb.py)."""
        from harness.suites.paper.judging import run_judged_seeds

        return run_judged_seeds(self, artifacts, session, seeds, beta, judge=judge, device=device, progress=progress)

    def usage_error(self, plan: RunPlan = DEFAULT_PLAN, *, in_container: bool = False) -> str | None:
        """Why `harness bench` cannot run this suite as asked, or None."""
        if self.config.judge is None:
            return (f"suite {self.name!r} has no judge: it measures a reward-KL point per beta, one GPU job per "
                    "beta (containers/launch.py with --set train.beta=B; harness/suites/paper/imdb.py)")
        return plan.unsupported(self.name)

    def summary(self, record: dict) -> Summary:
        from harness.suites.paper.summary import summary

        return summary(record)

    def describe(self) -> dict:
        c = self.config
        return {"name": c.name, "description": c.description, "size": c.size, "hardware": c.hardware,
                "expected_time": c.expected_time, "cached": (self.cache_folder() / cache.MANIFEST).is_file(),
                "config_hash": self.config_hash(),
                "model": c.model.policy, "judge": c.judge or "sentiment reward + KL",
                "generator": c.generator}
