"""Judges as versioned data: a folder with ``settings.json`` and prompt templates.

Built-in judges live in harness/judges/configs/<name>/; a custom judge is a new folder (pass its
path wherever a judge name is accepted), not new code. Files in a folder:

* ``settings.json``: the fields of ``JudgeSpec`` below (unknown keys are an error, not ignored);
* ``system.txt`` (optional) and ``user.txt``: the chat messages;
* ``user_reference.txt`` (single mode, optional): the user message for reference-guided grading.

Templates name fields in braces, substituted in one pass (so an answer that contains "{answer_b}"
is left alone): pairwise ``{prompt} {answer_a} {answer_b}``; single ``{prompt} {answer}`` and, in
``user_reference.txt``, ``{reference}``. Any other brace text is literal.

The judge's ``hash`` covers the templates, every setting that can change a verdict, and the
effective model name (a ``--model`` override is a different judge); it is part of every cache key
and result. Where the model is served (base_url, key variable), prices and concurrency do not change
verdicts and are left out of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

CONFIGS_DIR = Path(__file__).parent / "configs"
MODES = ("pairwise", "single")
PARSERS = {"pairwise": ("logprobs", "verdict", "json"), "single": ("rating", "json")}
FIELDS = {"pairwise": ("prompt", "answer_a", "answer_b"), "single": ("prompt", "answer", "reference")}
NOT_HASHED = frozenset({"name", "description", "base_url", "api_key_env", "max_concurrency",
                        "price_input_per_mtok", "price_output_per_mtok"})
_FIELD = re.compile(r"\{(prompt|answer_a|answer_b|answer|reference)\}")


@dataclass(frozen=True)
class JudgeSpec:
    name: str  # the folder's name; the judge's id
    version: int  # bump when the prompt or settings change meaning
    mode: str  # "pairwise" (AlpacaEval / MT-Bench pairwise) or "single" (MT-Bench 1-10 grade)
    model: str  # default judge model; --model overrides it (and so changes the hash)
    parser: str  # pairwise: logprobs | verdict | json; single: rating | json
    max_tokens: int  # per judge call (1 for the logprobs parser: only the first token is read)
    user_template: str
    system_template: str = ""
    reference_template: str = ""  # single mode: user message when grading against a reference
    temperature: float = 0.0
    # logprobs parser: alternatives requested for the first token, and what each label means
    # (the preference for the answer in position A); the verdict parser reads labels as [[label]]
    top_logprobs: int = 20
    labels: dict = field(default_factory=lambda: {"A": 1.0, "B": 0.0, "C": 0.5})
    json_field: str = "verdict"  # json parser: the key holding the label (pairwise) or rating (single)
    response_format: dict | None = None  # passed to the endpoint (e.g. a JSON schema), None = free text
    retry_temperature: float = 0.7  # unparseable output is retried ONCE; at temperature 0 a retry repeats
    reference_categories: tuple = ("math", "reasoning", "coding")  # single: graded against the reference
    description: str = ""
    base_url: str | None = None  # endpoint for this judge (e.g. a vLLM server); None: OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"  # NAME of the environment variable with the key (never the key)
    max_concurrency: int = 4
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"judge {self.name}: mode must be one of {MODES}, got {self.mode!r}")
        if self.parser not in PARSERS[self.mode]:
            raise ValueError(f"judge {self.name}: parser for mode {self.mode!r} must be one of "
                             f"{PARSERS[self.mode]}, got {self.parser!r}")
        if self.max_tokens < 1 or self.top_logprobs < 0:
            raise ValueError(f"judge {self.name}: need max_tokens >= 1 and top_logprobs >= 0")
        if self.parser == "logprobs" and self.top_logprobs < 2:
            raise ValueError(f"judge {self.name}: the logprobs parser needs top_logprobs >= 2")
        if any(not 0.0 <= float(v) <= 1.0 for v in self.labels.values()):
            raise ValueError(f"judge {self.name}: label values are preferences for answer A, in [0, 1]")
        wanted = {"prompt", "answer_a", "answer_b"} if self.mode == "pairwise" else {"prompt", "answer"}
        self._check_template("user.txt", self.user_template, wanted)
        if self.mode == "single" and self.reference_categories:
            if not self.reference_template:
                raise ValueError(f"judge {self.name}: reference_categories need a user_reference.txt")
            self._check_template("user_reference.txt", self.reference_template, wanted | {"reference"})

    def _check_template(self, filename: str, text: str, wanted: set[str]) -> None:
        missing = wanted - set(_FIELD.findall(text))
        if missing:
            raise ValueError(f"judge {self.name}: {filename} lacks the field(s) "
                             f"{', '.join('{' + m + '}' for m in sorted(missing))}")

    def hash_payload(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in NOT_HASHED}

    @property
    def hash(self) -> str:
        blob = json.dumps(self.hash_payload(), sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def with_model(self, model: str | None) -> JudgeSpec:
        return replace(self, model=model) if model else self


def render(template: str, values: dict[str, str]) -> str:
    """Substitute {field}s in one pass; answers are never re-scanned for fields."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def builtin_judges() -> list[str]:
    return sorted(p.name for p in CONFIGS_DIR.iterdir() if (p / "settings.json").is_file())


def judge_folder(name_or_path: str | Path) -> Path:
    """A built-in judge's folder by name, or a user's folder by path."""
    path = Path(name_or_path)
    if (path / "settings.json").is_file():
        return path
    if (CONFIGS_DIR / str(name_or_path) / "settings.json").is_file():
        return CONFIGS_DIR / str(name_or_path)
    raise FileNotFoundError(
        f"no judge {str(name_or_path)!r}: built-in judges are {', '.join(builtin_judges())}; "
        "a custom judge is a folder holding settings.json and user.txt (pass its path)")


def load_spec(name_or_path: str | Path) -> JudgeSpec:
    folder = judge_folder(name_or_path)
    settings = json.loads((folder / "settings.json").read_text())
    known = {f.name for f in fields(JudgeSpec)} - {"name", "user_template", "system_template",
                                                   "reference_template"}
    unknown = set(settings) - known
    if unknown:
        raise ValueError(f"{folder / 'settings.json'}: unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    if "reference_categories" in settings:
        settings["reference_categories"] = tuple(settings["reference_categories"])

    def text(name: str) -> str:
        path = folder / name
        return path.read_text() if path.is_file() else ""

    if not (folder / "user.txt").is_file():
        raise FileNotFoundError(f"judge folder {folder} has no user.txt (the prompt template)")
    return JudgeSpec(name=folder.name, user_template=text("user.txt"), system_template=text("system.txt"),
                     reference_template=text("user_reference.txt"), **settings)
