"""The judge a user chose for their suite: an LLM judge endpoint, a reward-model folder, or code.

Every kind is a Judge (harness.judges.base): a preference in [0, 1] for the policy's answer over the
reference answer (1 better, 0.5 tie), with an ``id`` and a ``hash`` of what determines its verdicts.

* ``llm``: a shipped LLM judge (``pairwise-weighted``, ``pairwise-verdict``, ``single-grade``) or a judge
  folder (harness.judges.spec) behind any OpenAI-compatible endpoint (``base_url``, ``model``); a
  server on 127.0.0.1 (``vllm serve``, llama.cpp) needs no key, others read ``OPENAI_API_KEY``.
* ``reward-model``: a sequence-classification folder with one output (TRL's RewardTrainer saves
  these); each answer is scored in the reward model's chat template (or as prompt + answer text when
  it has none) and the higher reward wins, equal rewards (within 1e-6) tie.
* ``code``: a Python file defining ``score(prompt: str, answer: str) -> float`` (higher is better),
  compared the same way. It runs in the harness's process: it is the user's own code, trusted as
  their suite file is (losses, which may come from anywhere, run in the sandbox instead).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path

from harness.judges.base import Comparison, Judgment

TIE_TOLERANCE = 1e-6
KINDS = ("llm", "reward-model", "code")


def _prefer(a: float, b: float) -> float:
    return 0.5 if abs(a - b) <= TIE_TOLERANCE else float(a > b)


class ScoreJudge:
    """Compares two answers by a per-answer score; the shared part of the reward-model and code judges."""

    id: str
    hash: str

    def scores(self, prompts: list[str], answers: list[str]) -> list[float]:
        raise NotImplementedError

    def judge(self, comparisons: list[Comparison]) -> list[Judgment]:
        prompts = [c.prompt for c in comparisons] * 2
        answers = [c.output for c in comparisons] + [c.reference for c in comparisons]
        values = self.scores(prompts, answers)
        bad = [i for i, v in enumerate(values) if not isinstance(v, int | float) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"judge {self.id} gave a non-finite or non-numeric score ({values[bad[0]]!r}) for "
                             f"answer {bad[0]}; a score must be a finite number")
        n = len(comparisons)
        return [Judgment(_prefer(values[i], values[n + i]), {"score": float(values[i]), "reference_score": float(values[n + i])})
                for i in range(n)]


class CodeJudge(ScoreJudge):
    def __init__(self, path):
        self.path = Path(path)
        source = self.path.read_bytes()
        spec = importlib.util.spec_from_file_location(f"harness_user_judge_{hashlib.sha256(source).hexdigest()[:12]}",
                                                      self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "score", None)):
            raise ValueError(f"{self.path}: a code judge defines score(prompt: str, answer: str) -> float")
        self._score = module.score
        self.id, self.hash = f"code:{self.path.name}", hashlib.sha256(source).hexdigest()

    def scores(self, prompts, answers):
        return [self._score(p, a) for p, a in zip(prompts, answers, strict=True)]


class RewardModelJudge(ScoreJudge):
    def __init__(self, folder, *, fingerprint: str, batch_size: int = 8, device: str = "cpu"):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.folder = Path(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.folder, dtype=torch.float32).to(device)
        if self.model.config.num_labels != 1:
            raise ValueError(f"{self.folder}: a reward model has one output (num_labels 1), this one has "
                             f"{self.model.config.num_labels}")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.eval()
        self.batch_size, self.device = batch_size, device
        self.id, self.hash = f"reward-model:{self.folder.name}", fingerprint

    def _text(self, prompt: str, answer: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                                       {"role": "assistant", "content": answer}], tokenize=False)
        return f"{prompt}\n{answer}"

    def scores(self, prompts, answers):
        import torch

        texts = [self._text(p, a) for p, a in zip(prompts, answers, strict=True)]
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[start:start + self.batch_size], return_tensors="pt", padding=True,
                                       truncation=True, add_special_tokens=False).to(self.device)
                out.extend(self.model(**batch).logits[:, 0].float().tolist())
        return out


def make_judge(cfg):
    """The Judge for an ``OwnJudgeConfig``."""
    if cfg.kind == "code":
        return CodeJudge(cfg.path)
    if cfg.kind == "reward-model":
        return RewardModelJudge(cfg.path, fingerprint=cfg.fingerprint)
    from harness.judges.llm import LLMJudge

    return LLMJudge(cfg.name, base_url=cfg.base_url, model=cfg.model)
