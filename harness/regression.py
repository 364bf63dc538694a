"""Regression checks for CI: compare a run's metrics with a committed baseline, with statistics.

A baseline file (``make_baseline``) holds, per loss, the metrics of a bench run with their CIs, the
per-seed metrics, the seeds, the suite name, config hash and config, and the harness and package
versions that made it. ``compare`` looks at every win-rate metric that carries a CI:

* regression  -- the whole CI of (current - baseline) lies below ``-tolerance``;
* improvement -- the whole CI lies above ``+tolerance``;
* unchanged   -- anything else (the difference is within noise or within the tolerance).

The CI of the difference comes from the two runs' own CIs (``stats.difference_ci``: the half-widths
add in quadrature). Each run's CI is the bench's hierarchical bootstrap over seeds and prompts, so it
already holds the seed-to-seed spread of training, which is what changes when the same code runs on
another machine (floating-point kernels differ, trajectories drift apart). The two runs are treated
as independent: a seed does not pair two runs of different code, and the baseline file stays small.

Only win rates are gated: they share one scale (a fraction of comparisons), so one tolerance means
the same thing for each; the scale of a suite's reward is suite-specific.

A loss whose current run failed (a record status other than "ok": the bench records a failing
candidate, e.g. one that drives the policy to NaN, that way) while its baseline was ok is a
regression. Failures of the harness itself (no usable sandbox, an unbuildable suite) are exceptions
from the bench, never records; the CLI turns them into exit code 2.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.records import config_hash, now_iso, provenance, validate_record
from harness.stats import Estimate, difference_ci

BASELINE_KIND = "harness-baseline"
BASELINE_SCHEMA_VERSION = 1
GATED_PREFIX = "win_rate"


class CIError(RuntimeError):
    """A usage or infrastructure problem (exit code 2), never a regression; the message says the fix."""


class ConfigMismatchError(CIError):
    """The baseline was made with a different suite or suite config than this run."""


@dataclass(frozen=True)
class ComparisonConfig:
    tolerance: float = 0.02  # a drop must exceed this (in win-rate units) with its whole CI to count
    metrics: tuple[str, ...] | None = None  # None: every win_rate* metric with a CI in the baseline

    def __post_init__(self):
        if self.tolerance < 0:
            raise CIError(f"tolerance must be >= 0, got {self.tolerance}")


@dataclass(frozen=True)
class Row:
    loss: str
    metric: str
    verdict: str  # regression | improvement | unchanged | failed | new
    baseline: Estimate | None = None
    current: Estimate | None = None
    difference: Estimate | None = None
    note: str = ""

    def as_dict(self) -> dict:
        out = {"loss": self.loss, "metric": self.metric, "verdict": self.verdict, "note": self.note}
        for name in ("baseline", "current", "difference"):
            est = getattr(self, name)
            out[name] = None if est is None else {"mean": est.mean, "ci": [est.low, est.high]}
        return out


@dataclass(frozen=True)
class Report:
    suite: dict  # {name, config_hash}
    seeds: tuple[int, ...]
    tolerance: float
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressed(self) -> bool:
        return any(r.verdict in ("regression", "failed") for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def as_dict(self) -> dict:
        return {"kind": "harness-ci-report", "result": "regression" if self.regressed else "pass",
                "exit_code": self.exit_code, "suite": self.suite, "seeds": list(self.seeds),
                "tolerance": self.tolerance, "difference_ci": "stats.difference_ci of the two runs' CIs",
                "rows": [r.as_dict() for r in self.rows], "notes": list(self.notes)}


# ----------------------------------------------------------------------------------- baseline files

def _harness_version() -> str:
    try:
        return importlib.metadata.version("harness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _baseline_entry(record: dict) -> dict:
    per_seed = [{k: v for k, v in s.items() if k != "trajectory"} for s in record["per_seed"]]
    return {"loss": {k: record["loss"].get(k) for k in ("name", "sha256", "path")},
            "status": record["status"], "beta": record["beta"], "metrics": record["metrics"],
            "per_seed": per_seed}


def make_baseline(records: list[dict]) -> dict:
    """A baseline from ok bench records of one suite config and one seed list."""
    if not records:
        raise CIError("a baseline needs at least one loss; pass --loss FILE or --losses a.py,b.py")
    failed = [f"{r['loss']['name']} ({r['status']}: {r['error']})" for r in records if r["status"] != "ok"]
    if failed:
        raise CIError(f"refusing to write a baseline from failed runs: {'; '.join(failed)}")
    first = records[0]
    for r in records[1:]:
        if r["suite"]["config_hash"] != first["suite"]["config_hash"] or r["seeds"] != first["seeds"]:
            raise CIError("all runs of one baseline must share the suite config and the seeds")
    names = [r["loss"]["name"] for r in records]
    if len(set(names)) != len(names):
        raise CIError(f"two losses share a name ({', '.join(names)}); a baseline keys losses by name")
    prov = provenance()
    return {"kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA_VERSION, "created_at": now_iso(),
            "suite": {k: first["suite"][k] for k in ("name", "config_hash", "config")},
            "seeds": list(first["seeds"]), "harness_version": _harness_version(),
            "packages": prov["packages"], "provenance": prov,
            "losses": {r["loss"]["name"]: _baseline_entry(r) for r in records}}


def write_baseline(baseline: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
    return path


def read_baseline(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CIError(f"baseline file {path} does not exist; create it with "
                      f"`harness ci --update-baseline --baseline {path} --loss FILE`")
    try:
        baseline = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CIError(f"baseline file {path} is not readable JSON ({e}); regenerate it with --update-baseline") from None
    if not isinstance(baseline, dict) or baseline.get("kind") != BASELINE_KIND:
        raise CIError(f"{path} is not a harness baseline (kind {BASELINE_KIND!r} expected)")
    if baseline.get("schema_version") != BASELINE_SCHEMA_VERSION:
        raise CIError(f"{path} has baseline schema {baseline.get('schema_version')!r}; this harness reads "
                      f"{BASELINE_SCHEMA_VERSION}: regenerate it with --update-baseline")
    for key in ("suite", "seeds", "losses"):
        if key not in baseline:
            raise CIError(f"baseline file {path} lacks {key!r}; regenerate it with --update-baseline")
    return baseline


def _differing_fields(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differing_fields(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix[:-1]} ({a!r} -> {b!r})"]


def check_compatible(baseline: dict, suite_name: str, suite_config: dict) -> None:
    """Refuse a baseline made with another suite or suite config: its numbers mean something else."""
    base = baseline["suite"]
    if base["name"] != suite_name:
        raise ConfigMismatchError(f"the baseline was made on suite {base['name']!r}, this run uses {suite_name!r}; "
                                  f"pass --suite {base['name']} or make a new baseline with --update-baseline")
    current_hash = config_hash(suite_config)
    if base["config_hash"] != current_hash:
        diff = _differing_fields(base.get("config", {}), suite_config)
        shown = "; ".join(diff[:8]) + (f"; ... {len(diff) - 8} more" if len(diff) > 8 else "")
        raise ConfigMismatchError(
            f"the baseline was made with suite {suite_name!r} config {base['config_hash']}, this run uses "
            f"{current_hash} (baseline -> now: {shown or 'config not stored in the baseline'}). Results of "
            f"different configs are not comparable: regenerate the baseline with --update-baseline")


# ----------------------------------------------------------------------------------------- compare

def _estimate(metrics: dict, name: str) -> Estimate:
    lo, hi = metrics[f"{name}_ci"]
    return Estimate(float(metrics[name]), float(lo), float(hi), 0.0, 0)


def gated_metrics(metrics: dict, cfg: ComparisonConfig) -> list[str]:
    if cfg.metrics is not None:
        return list(cfg.metrics)
    return sorted(k for k in metrics if k.startswith(GATED_PREFIX) and not k.endswith("_ci")
                  and f"{k}_ci" in metrics)


def verdict(diff: Estimate, tolerance: float) -> str:
    if diff.high < -tolerance:
        return "regression"
    if diff.low > tolerance:
        return "improvement"
    return "unchanged"


def _compare_loss(name: str, entry: dict, record: dict, cfg: ComparisonConfig) -> list[Row]:
    metrics = gated_metrics(entry["metrics"], cfg)
    if record["status"] != "ok":
        return [Row(name, "status", "failed", note=f"{record['status']}: {record['error']}")]
    rows = []
    for metric in metrics:
        if f"{metric}_ci" not in record["metrics"] or f"{metric}_ci" not in entry["metrics"]:
            raise CIError(f"metric {metric!r} with a CI is missing from the baseline or this run of {name}; "
                          f"the bench output changed: regenerate the baseline with --update-baseline")
        base, cur = _estimate(entry["metrics"], metric), _estimate(record["metrics"], metric)
        diff = difference_ci(cur, base)
        note = _censoring_note(metric, entry["metrics"], record["metrics"])
        rows.append(Row(name, metric, verdict(diff, cfg.tolerance), base, cur, diff, note))
    return rows


def _censoring_note(metric: str, base: dict, cur: dict) -> str:
    """A matched-KL win rate scored at the last checkpoint (censored) is not the same measurement."""
    key = "censored" + metric[len(GATED_PREFIX):]
    if key in base and key in cur and bool(base[key]) != bool(cur[key]):
        return f"{key}: baseline {bool(base[key])}, now {bool(cur[key])}"
    return ""


def _provenance_notes(baseline: dict, records: list[dict]) -> list[str]:
    """What differs between the machine that made the baseline and this one (explains small drifts)."""
    if not records:
        return []
    now, then = records[0]["provenance"], baseline.get("provenance", {})
    notes = []
    for label, a, b in (("harness", then.get("harness_version"), now.get("harness_version")),
                        ("python", then.get("python"), now.get("python")),
                        ("platform", then.get("platform"), now.get("platform")),
                        ("hardware", then.get("hardware"), now.get("hardware"))):
        if a != b:
            notes.append(f"{label} differs from the baseline's: {a} -> {b}")
    packages_then, packages_now = then.get("packages", {}), now.get("packages", {})
    for pkg in sorted(set(packages_then) | set(packages_now)):
        if packages_then.get(pkg) != packages_now.get(pkg):
            notes.append(f"{pkg} differs from the baseline's: {packages_then.get(pkg)} -> {packages_now.get(pkg)}")
    if notes:
        notes.append("metrics are bit-identical only on the same machine and versions; elsewhere the "
                     "check relies on the CIs (seed and prompt noise) and the tolerance")
    return notes


def compare(baseline: dict, records: list[dict], cfg: ComparisonConfig = ComparisonConfig()) -> Report:
    """Compare bench records with a baseline; raises CIError on an incompatible baseline or an infra error."""
    notes = []
    for record in records:
        validate_record(record)
        check_compatible(baseline, record["suite"]["name"], record["suite"]["config"])
    rows: list[Row] = []
    for record in records:
        name = record["loss"]["name"]
        entry = baseline["losses"].get(name)
        if entry is None:
            rows.append(Row(name, "-", "new", note="not in the baseline; add it with --update-baseline"))
            continue
        if entry["loss"].get("sha256") != record["loss"]["sha256"]:
            notes.append(f"{name}: the loss file changed since the baseline")
        rows += _compare_loss(name, entry, record, cfg)
    seeds = tuple(records[0]["seeds"]) if records else tuple(baseline["seeds"])
    if list(seeds) != list(baseline["seeds"]):
        notes.append(f"seeds {list(seeds)} differ from the baseline's {baseline['seeds']}: "
                     "the comparison is statistical only")
    notes += _provenance_notes(baseline, records)
    suite = {"name": baseline["suite"]["name"], "config_hash": baseline["suite"]["config_hash"]}
    return Report(suite, seeds, cfg.tolerance, tuple(rows), tuple(notes))


# ------------------------------------------------------------------------------------------ output

def _fmt(est: Estimate | None, signed: bool = False) -> str:
    if est is None:
        return "-"
    sign = "+" if signed else ""
    return f"{est.mean:{sign}.3f} [{est.low:{sign}.3f}, {est.high:{sign}.3f}]"


def _table_rows(report: Report) -> list[list[str]]:
    return [[r.loss, r.metric, _fmt(r.baseline), _fmt(r.current), _fmt(r.difference, signed=True),
             r.verdict.upper() if r.verdict in ("regression", "failed") else r.verdict, r.note]
            for r in report.rows]


HEADERS = ["loss", "metric", "baseline [95% CI]", "now [95% CI]", "now - baseline [95% CI]", "verdict", "note"]


def format_table(report: Report) -> str:
    from tabulate import tabulate

    head = (f"suite {report.suite['name']} (config {report.suite['config_hash']}), seeds {list(report.seeds)}, "
            f"tolerance {report.tolerance:g}")
    result = "REGRESSION" if report.regressed else "PASS: nothing regressed"
    lines = [head, tabulate(_table_rows(report), headers=HEADERS), *[f"note: {n}" for n in report.notes], result]
    return "\n".join(lines)


def format_markdown(report: Report) -> str:
    """A CI job summary (GitHub's $GITHUB_STEP_SUMMARY renders it)."""
    from tabulate import tabulate

    icon = ":x: regression" if report.regressed else ":white_check_mark: nothing regressed"
    lines = [f"## harness ci: {icon}", "",
             f"Suite `{report.suite['name']}` (config `{report.suite['config_hash']}`), seeds "
             f"{list(report.seeds)}, tolerance {report.tolerance:g}. A regression is a drop whose 95% CI "
             f"of (now - baseline) lies entirely below -{report.tolerance:g}.", "",
             tabulate(_table_rows(report), headers=HEADERS, tablefmt="github")]
    if report.notes:
        lines += ["", "**Notes**", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ the run

@dataclass(frozen=True)
class CIConfig:
    baseline: Path  # the baseline file to compare with (or to write, with update)
    suite: str = "tiny"
    losses: tuple[str, ...] = ()  # loss files; empty: the losses recorded in the baseline
    seeds: int | None = None  # None: as many as the baseline has (or the suite's default on update)
    update: bool = False  # write the baseline from this run instead of comparing
    backend: str = "auto"  # sandbox backend for run_bench
    progress: bool = True
    comparison: ComparisonConfig = field(default_factory=ComparisonConfig)

    def __post_init__(self):
        if self.seeds is not None and self.seeds < 1:
            raise CIError(f"--seeds must be at least 1, got {self.seeds}")
        if self.update and not self.losses:
            raise CIError("--update-baseline needs the losses to run: pass --loss FILE or --losses a.py,b.py")


def _bench(loss_path: str, **kwargs) -> dict:
    """The bench entry point (a seam so that tests of the CI logic need no training); every run is
    kept in the run store like any other bench run."""
    from harness.bench import BenchUsageError, bench_and_store

    try:
        return bench_and_store(loss_path, **kwargs).record
    except BenchUsageError as e:
        raise CIError(str(e)) from None


def _suite_config(name: str) -> dict:
    from harness.registry import UnknownNameError
    from harness.suites import get_suite

    try:
        return get_suite(name).config.as_dict()
    except UnknownNameError as e:
        raise CIError(str(e)) from None


def _portable(path: str) -> str:
    """Loss paths in a baseline are relative to the directory CI runs from, so the file travels."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _run_losses(cfg: CIConfig, losses: tuple[str, ...], seeds: int | None) -> list[dict]:
    records = []
    for loss in losses:
        if not Path(loss).is_file():
            raise CIError(f"loss file {loss} does not exist; pass an existing file with --loss/--losses")
        kwargs = {} if seeds is None else {"seeds": seeds}  # None: the bench's own default seeds
        record = _bench(loss, suite=cfg.suite, backend=cfg.backend, progress=cfg.progress, **kwargs)
        validate_record(record)
        record["loss"]["path"] = _portable(loss)
        records.append(record)
    return records


def run_ci(cfg: CIConfig) -> tuple[Report | None, list[dict]]:
    """Run the losses and compare with the baseline (or write it). Returns (report, records);
    the report is None after --update-baseline. Raises CIError for usage and infrastructure errors."""
    suite_config = _suite_config(cfg.suite)
    if cfg.update:
        records = _run_losses(cfg, cfg.losses, cfg.seeds)
        write_baseline(make_baseline(records), cfg.baseline)
        return None, records
    baseline = read_baseline(cfg.baseline)
    check_compatible(baseline, cfg.suite, suite_config)  # before minutes of training, not after
    losses = cfg.losses or tuple(e["loss"]["path"] for e in baseline["losses"].values())
    seeds = cfg.seeds or len(baseline["seeds"])
    records = _run_losses(cfg, losses, seeds)
    return compare(baseline, records, cfg.comparison), records
