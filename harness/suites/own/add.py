"""``harness suites add SPEC``: a user's suite file, validated up front and saved under HARNESS_HOME.

The spec (JSON) the user writes; paths are relative to the spec file::

    {"name": "my-prefs", "data": "prefs.jsonl", "model": "models/my-sft",
     "judge": {"kind": "reward-model", "path": "models/my-rm"},
     "reference": "model", "data_options": {"eval_fraction": 0.1, "split_seed": 0},
     "train": {"steps": 40, "learning_rate": 1e-5}, "eval_generation": {"max_new_tokens": 64}}

Everything is checked before anything is saved: the data (columns, empty / duplicate / no-preference
rows), the model folder (a causal LM with a chat template and an EOS token), data and template together
(special tokens in the text, the prompt-prefix property, lengths beyond the context), the held-out
split, and the judge (its kind, file or folder, or a known LLM judge). The saved file holds absolute
paths and the data's, model's and judge's fingerprints.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from harness.suites.own import (
    OwnDataConfig,
    OwnJudgeConfig,
    OwnSuiteConfig,
    OwnTrainSettings,
    user_suites_dir,
)

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SPEC_KEYS = {"name", "data", "model", "judge", "reference", "data_options", "train", "eval_generation",
             "generator", "beta", "seeds", "ci_level"}


class SpecError(ValueError):
    """The suite spec is wrong; the message names the field and the fix."""


def _path(spec_dir: Path, value, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{what} must be a path (text), got {value!r}")
    path = (spec_dir / value).resolve()
    if not path.exists():
        raise SpecError(f"{what}: {path} does not exist")
    return path


def _known(section: dict, cls, what: str) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise SpecError(f"unknown {what} field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}")
    return section


def _judge(spec_dir: Path, raw) -> OwnJudgeConfig:
    from harness.suites.own.build import folder_fingerprint
    from harness.suites.own.judges import KINDS

    if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
        raise SpecError(f"judge must be an object with kind one of {', '.join(KINDS)} (e.g. {{\"kind\": \"code\", "
                        f"\"path\": \"judge.py\"}}), got {raw!r}")
    raw = _known(dict(raw), OwnJudgeConfig, "judge")
    if raw["kind"] == "llm":
        from harness.judges.spec import builtin_judges

        name = raw.get("name", "pairwise-weighted")
        if name not in builtin_judges():
            raw["name"] = str(_path(spec_dir, name, "judge.name (a shipped judge or a judge folder)"))
        return OwnJudgeConfig(**raw)
    path = _path(spec_dir, raw.get("path"), "judge.path")
    if raw["kind"] == "code":
        from harness.suites.own.judges import CodeJudge

        judge = CodeJudge(path)  # refuses a file without score(); the user's own code, as documented
        return OwnJudgeConfig(**{**raw, "path": str(path), "fingerprint": judge.hash})
    if not (path / "config.json").is_file():
        raise SpecError(f"judge.path: {path} is not a model folder (no config.json); a reward model is a "
                        "sequence-classification checkpoint with one output")
    return OwnJudgeConfig(**{**raw, "path": str(path), "fingerprint": folder_fingerprint(path)})


def resolve(spec_path, taken: frozenset[str] = frozenset()) -> OwnSuiteConfig:
    """The validated, fingerprinted suite config for a spec file; SpecError / DataError naming the problem.
    ``taken``: the built-in suites' names, which a user suite may not take (harness.suites.add_user_suite)."""
    from harness.generation import GenerationConfig
    from harness.suites.own import build, template
    from harness.suites.own import data as own_data

    spec_path = Path(spec_path)
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SpecError(f"{spec_path}: not a readable JSON suite spec ({e})") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{spec_path}: a suite spec is a JSON object")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"{spec_path}: unknown field(s) {', '.join(unknown)}; fields: {', '.join(sorted(SPEC_KEYS))}")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise SpecError(f"name {name!r}: lower-case letters, digits, '.', '_' and '-' (at most 64), e.g. \"my-prefs\"")
    if name in taken:
        raise SpecError(f"name {name!r} is a built-in suite; choose another")
    here = spec_path.resolve().parent
    data_path = _path(here, spec.get("data"), "data")
    model = _path(here, spec.get("model"), "model")
    rows = own_data.read_preferences(data_path)
    options = _known(dict(spec.get("data_options", {})), OwnDataConfig, "data_options")
    data = OwnDataConfig(path=str(data_path), fingerprint=own_data.fingerprint(rows), **options)
    own_data.split(rows, seed=data.split_seed, eval_fraction=data.eval_fraction, eval_max=data.eval_max)
    if not (model / "config.json").is_file():
        raise SpecError(f"model: {model} is not a model folder (no config.json); give a folder saved with "
                        "save_pretrained (weights, config and tokenizer)")
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    template.check_model(tokenizer)
    limit = data.max_length or template.context_length(AutoConfig.from_pretrained(model), tokenizer)
    template.tokenize_rows(tokenizer, rows, max_length=limit, system=data.system)
    extra = {k: spec[k] for k in ("reference", "generator", "beta", "ci_level") if k in spec}
    if "seeds" in spec:
        extra["seeds"] = tuple(spec["seeds"])
    if "train" in spec:
        extra["train"] = OwnTrainSettings(**_known(dict(spec["train"]), OwnTrainSettings, "train"))
    if "eval_generation" in spec:
        base = OwnSuiteConfig.__dataclass_fields__["eval_generation"].default_factory().as_dict()
        extra["eval_generation"] = GenerationConfig(**{**base, **_known(dict(spec["eval_generation"]), GenerationConfig,
                                                                        "eval_generation")})
    return OwnSuiteConfig(name=name, model=str(model), model_fingerprint=build.folder_fingerprint(model), data=data,
                          judge=_judge(here, spec.get("judge")), **extra)


def add(spec_path, taken: frozenset[str] = frozenset()) -> tuple[OwnSuiteConfig, Path]:
    """Validate ``spec_path`` and save it as a user suite (replacing an earlier one of the same name); the
    suite registry takes it in harness.suites.add_user_suite."""
    config = resolve(spec_path, taken)
    folder = user_suites_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{config.name}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config.as_dict(), indent=1, sort_keys=True) + "\n")
    tmp.replace(out)
    return config, out
