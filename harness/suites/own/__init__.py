"""Suites made from a user's own preference data and model folder (``harness suites add SPEC``).

A suite file (JSON) names the data (TRL's prompt / chosen / rejected: JSONL, CSV or a ``datasets``
folder), the model folder (policy and reference: a causal LM with a chat template) and the judge (an
LLM judge endpoint, a reward-model folder, or code; judges.py). ``harness suites add`` validates all of
it up front (data.py, template.py), records the data's and the model's fingerprints, and keeps the
resolved file under ``HARNESS_HOME/user-suites/NAME.json``; from then on NAME is a suite like any other
(``bench``, ``submit``, ``compare``, ``leaderboard``, ``ci``). docs/own-data.md walks through it.

Protocol (as the smol suite's): held-out prompts are split off reproducibly (data.split); the train
pairs get reference log-probs under the untrained model once (the artifact cache); each seed trains
the model with the loss, answers the held-out prompts, and the judge compares every answer with the
reference answer to the same prompt: the untrained model's (``reference = "model"``) or the data's
chosen answer (``reference = "chosen"``). Win rate with a prompt-clustered bootstrap CI.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.generation import GenerationConfig
from harness.suites import cache
from harness.suites.base import DEFAULT_PLAN, Column, RunPlan, SuiteResult, Summary

USER_SUITES = "user-suites"  # under harness_home()


@dataclass(frozen=True)
class OwnDataConfig:
    path: str  # the data file or datasets folder (absolute)
    fingerprint: str  # sha256 of the rows as read (data.fingerprint), recorded by `harness suites add`
    split_seed: int = 0
    eval_fraction: float = 0.1  # share of the distinct prompts held out
    eval_max: int = 128  # at most this many held-out prompts
    max_length: int | None = None  # prompt + answer tokens; None: the model's context
    system: str | None = None  # a system turn put before every prompt that has none

    def __post_init__(self):
        if not 0 < self.eval_fraction < 1 or self.eval_max < 2:
            raise ValueError("data.eval_fraction must be in (0, 1) and data.eval_max at least 2")


@dataclass(frozen=True)
class OwnJudgeConfig:
    kind: str  # "llm", "reward-model" or "code" (judges.py)
    name: str = "pairwise-weighted"  # llm: a shipped judge or a judge folder
    base_url: str | None = None  # llm: the endpoint (None: the judge's settings, else OPENAI_BASE_URL)
    model: str | None = None  # llm: the model name sent to the endpoint
    path: str | None = None  # reward-model: the folder; code: the .py file defining score(prompt, answer)
    fingerprint: str = ""  # reward-model / code: sha256 of the folder's files / the file

    def __post_init__(self):
        from harness.suites.own.judges import KINDS

        if self.kind not in KINDS:
            raise ValueError(f"judge.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind != "llm" and not self.path:
            raise ValueError(f"a {self.kind} judge needs judge.path (the {'folder' if self.kind == 'reward-model' else '.py file'})")


@dataclass(frozen=True)
class OwnTrainSettings:
    learning_rate: float = 1e-5
    steps: int = 40
    batch_size: int = 4  # pairs per step
    max_grad_norm: float = 1.0
    warmup_steps: int = 2
    threads: int = 2

    def as_train_config(self):
        from harness.train import TrainConfig

        return TrainConfig(learning_rate=self.learning_rate, steps=self.steps, batch_size=self.batch_size,
                           checkpoint_every=self.steps, max_grad_norm=self.max_grad_norm,
                           warmup_steps=self.warmup_steps, threads=self.threads)


@dataclass(frozen=True)
class OwnSuiteConfig:
    """A user's suite as data; saved whole (paths and fingerprints included) into every record."""

    name: str
    model: str  # the model folder (absolute): policy and reference
    model_fingerprint: str  # sha256 over the folder's files (fingerprints.folder_fingerprint)
    data: OwnDataConfig
    judge: OwnJudgeConfig
    reference: str = "model"  # "model": the untrained model's answers; "chosen": the data's chosen answers
    eval_generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(
        max_new_tokens=64, temperature=0.7, samples_per_prompt=2, seed=12, batch_size=16))
    train: OwnTrainSettings = field(default_factory=OwnTrainSettings)
    generator: str = "hf"  # or "vllm-server" (docs/vllm.md)
    beta: float = 0.1
    seeds: tuple[int, ...] = (0,)
    ci_level: float = 0.95

    def __post_init__(self):
        if self.reference not in ("model", "chosen"):
            raise ValueError(f"reference must be 'model' or 'chosen', got {self.reference!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    def build_dict(self) -> dict:
        return {"model": self.model_fingerprint, "data": asdict(self.data), "reference": self.reference,
                "eval_generation": self.eval_generation.as_dict(), "threads": cache.BUILD_THREADS}


class OwnSuite(cache.CachedSuite):
    """A user's data, model and judge; win rate of the trained policy against the reference answers."""

    board_columns = (Column("win_rate", "win rate vs reference", ci=True, percent=True),)
    gate_metric = "win_rate"
    judged_outside = False
    parallel_seeds = False

    def __init__(self, config: OwnSuiteConfig, *, problem: str | None = None):
        super().__init__(config)
        self.name = config.name
        self.problem = problem  # why the suite file cannot be used (reported by usage_error), or None

    @property
    def cache_family(self) -> str:
        return f"own-{self.name}"

    def with_overrides(self, overrides: dict):
        from harness.suites.overrides import apply_overrides

        if "name" in overrides or "model" in overrides or "data.path" in overrides:
            raise KeyError("a user suite's name, model and data are fixed by its file: edit the file and run "
                           "`harness suites add` again (it re-validates and re-fingerprints them)")
        return OwnSuite(apply_overrides(self.config, overrides), problem=self.problem)

    def usage_error(self, plan: RunPlan = DEFAULT_PLAN, *, in_container: bool = False) -> str | None:
        if self.problem:
            return self.problem
        if plan.modes():
            return plan.unsupported(self.name)
        if in_container:
            return (f"suite {self.name!r} reads your model and data folders on this machine, which a job container "
                    "does not mount: use --executor local")
        return None

    def build(self, *, progress: bool = True):
        from harness.suites.own.build import build, check_sources, load

        check_sources(self.config)
        folder = cache.ensure(self.cache_folder(), lambda tmp: build(tmp, self.config, progress))
        return load(folder, self.config)

    def run_seed(self, artifacts, session, *, seed: int, beta: float | None = None) -> dict:
        from harness.suites.own.run import run_seed

        return run_seed(self.config, artifacts, session, seed=seed, beta=self.config.beta if beta is None else beta)

    def seed_job(self, artifacts, session, seed: int, beta: float, *, device: str = "cpu", gpus: int = 1,
                 work_dir=None) -> dict:
        return self.run_seed(artifacts, session, seed=seed, beta=beta)

    def pool_seed_jobs(self, artifacts, outputs: list[dict], seeds: list[int]) -> SuiteResult:
        from harness.suites.smol.run import aggregate

        prompts = [r["prompt"] for r in artifacts.eval_rows]
        if [o["seed"] for o in outputs] != list(seeds):
            raise ValueError(f"the jobs report seeds {[o['seed'] for o in outputs][:8]}, not {list(seeds)[:8]}")
        if any(len(o["per_prompt_win"]) != len(prompts) for o in outputs):
            raise ValueError(f"a job's per-prompt wins do not have one value per evaluation prompt ({len(prompts)})")
        return aggregate([dict(o) for o in outputs], self.config.ci_level, prompts,
                         [r["reference"][0] for r in artifacts.eval_rows])  # the record keeps the answers

    def run_seeds(self, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
                  plan: RunPlan = DEFAULT_PLAN) -> SuiteResult:
        from harness.suites.smol.run import aggregate

        per_seed = []
        for seed in seeds:
            if progress:
                print(f"{self.name}: seed {seed}: train {self.config.train.steps} steps, generate, judge",
                      file=sys.stderr)
            per_seed.append(self.run_seed(artifacts, session, seed=seed, beta=beta))
        return aggregate(per_seed, self.config.ci_level, [r["prompt"] for r in artifacts.eval_rows],
                         [r["reference"][0] for r in artifacts.eval_rows])  # the record keeps the answers

    def summary(self, record: dict) -> Summary:
        from harness.suites.own.summary import summary

        return summary(record)

    def describe(self) -> dict:
        c = self.config
        return {
            "name": self.name,
            "description": (f"your data {Path(c.data.path).name} and model {Path(c.model).name}, judged by "
                            f"{c.judge.kind} ({Path(c.judge.path).name if c.judge.path else c.judge.name}); "
                            f"win rate vs the {'untrained model' if c.reference == 'model' else 'chosen answers'}"
                            if not self.problem else f"unusable: {self.problem}"),
            "size": f"{c.train.steps} steps x {c.train.batch_size} pairs, held-out {c.data.eval_fraction:.0%} of the "
                    f"prompts (<= {c.data.eval_max}) x {c.eval_generation.samples_per_prompt} samples",
            "hardware": "CPU or GPU; memory as the model needs (full fine-tune)",
            "expected_time": "depends on your model and data",
            "cached": (self.cache_folder() / cache.MANIFEST).is_file(),
            "config_hash": self.config_hash(),
        }


def user_suites_dir() -> Path:
    from harness.paths import harness_home

    return harness_home() / USER_SUITES


def config_from_dict(data: dict) -> OwnSuiteConfig:
    """An OwnSuiteConfig from a saved suite file's JSON (nested dicts); TypeError / ValueError when malformed."""
    d = dict(data)
    d["data"] = OwnDataConfig(**d["data"])
    d["judge"] = OwnJudgeConfig(**d["judge"])
    if "eval_generation" in d:
        d["eval_generation"] = GenerationConfig(**d["eval_generation"])
    if "train" in d:
        d["train"] = OwnTrainSettings(**d["train"])
    if "seeds" in d:
        d["seeds"] = tuple(d["seeds"])
    return OwnSuiteConfig(**d)


def register_user_suites(registry) -> None:
    """Register every saved suite file under ``user_suites_dir()``. A file that cannot be read is still
    listed (its usage_error says what is wrong); one whose name is taken is skipped with a warning."""
    folder = user_suites_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            config, problem = config_from_dict(json.loads(path.read_text())), None
        except (OSError, ValueError, TypeError, KeyError) as e:
            config = OwnSuiteConfig(path.stem, "", "", OwnDataConfig("", ""), OwnJudgeConfig("code", path=str(path)))
            problem = f"the suite file {path} is unusable ({type(e).__name__}: {e}); run `harness suites add` again"
        if config.name in registry:
            print(f"harness: the user suite file {path} is named {config.name!r}, which is taken; rename it",
                  file=sys.stderr)
            continue
        registry.add(config.name, OwnSuite(config, problem=problem), f"your suite ({path.name})")


__all__ = ["OwnSuite", "OwnSuiteConfig", "OwnDataConfig", "OwnJudgeConfig", "OwnTrainSettings",
           "register_user_suites", "user_suites_dir", "config_from_dict"]
