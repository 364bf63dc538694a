"""Regression checks for CI: compare a run's per-prompt outcomes with a committed multi-seed baseline.

A baseline file (``make_baseline``, schema 2) holds, per loss, a bench record's seeds, metrics and
per-prompt ``outcomes`` (seeds x prompts tables on the suite's fixed prompts), with the suite config
and the versions that made it; ``harness ci --update-baseline`` writes it. ``compare`` pairs each
loss's run with its baseline prompt by prompt (``harness.stats.paired.rerun_difference_ci``): another
machine makes a seed's trajectory drift, so a rerun's seeds are fresh draws and the seed spread is
pooled from both runs' seeds (it is the same under "nothing changed"); a baseline therefore holds
several seeds (it refuses fewer than ``MIN_SEEDS``).

One metric is gated per loss: the records' primary outcomes table (tiny: the win rate at the KL
budget). With L losses each interval is at level 1 - 0.05 / L (Bonferroni), and

* regression  -- the interval of (now - baseline) lies entirely below ``-tolerance``: a one-sided
  test at 2.5% / L, so an unchanged loss raises a false alarm at most that often;
* improvement -- it lies entirely above ``+tolerance``;
* unchanged   -- anything else.

The other outcomes tables (end of training, the 1-nat budget) are reported, never gated. Each gated
row states its minimum detectable drop: the drop caught with 80% probability at this run's noise.
``benchmarks/validation/bench_ci_power.py`` measures the false-alarm rate and the power for a 5-point drop by
simulation with noise estimated from the committed tiny board.

A loss whose current run failed (a record status other than "ok") while its baseline was ok is a
regression. Failures of the harness itself are exceptions from the bench, never records; the CLI
turns them into exit code 2.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.comparison import CompareError, compare_records, usable_table
from harness.records import config_hash, git_revision, now_iso, provenance, validate_record
from harness.registry import UnknownNameError
from harness.stats.crossed import CrossedEstimate, win_rate_ci
from harness.stats.paired import minimum_detectable_drop, rerun_difference_ci
from harness.suites import get_suite

BASELINE_KIND = "harness-baseline"
BASELINE_SCHEMA_VERSION = 2
MIN_SEEDS = 3
DEFAULT_SEEDS = 14  # --update-baseline default: tiny v2, board seed spread: 5-point drop caught 99% (bench_ci_power.py)
FAMILY_ALPHA = 0.05  # two-sided; each gate is one-sided at FAMILY_ALPHA / 2 / L
DETECT_POWER = 0.80
REFERENCE_TABLE = "reference"  # the untrained policy: not a property of the loss, never compared


class CIError(RuntimeError):
    """A usage or infrastructure problem (exit code 2), never a regression; the message says the fix."""


class ConfigMismatchError(CIError):
    """The baseline was made with a different suite or suite config than this run."""


@dataclass(frozen=True)
class ComparisonConfig:
    tolerance: float = 0.0  # a drop must exceed this (in win-rate units) with its whole CI to count
    table: str | None = None  # gated outcomes table; None: the records' primary

    def __post_init__(self):
        if self.tolerance < 0:
            raise CIError(f"tolerance must be >= 0, got {self.tolerance}")


@dataclass(frozen=True)
class Row:
    loss: str
    metric: str  # outcomes table, or "status" / "-"
    verdict: str  # regression | improvement | unchanged | failed | new | reported
    baseline: CrossedEstimate | None = None
    current: CrossedEstimate | None = None
    difference: CrossedEstimate | None = None
    note: str = ""
    detectable_drop: float | None = None  # gated rows: the drop caught with DETECT_POWER probability

    def as_dict(self) -> dict:
        out = {"loss": self.loss, "metric": self.metric, "verdict": self.verdict, "note": self.note,
               "gated": self.verdict not in ("reported", "new"), "minimum_detectable_drop": self.detectable_drop}
        for name in ("baseline", "current", "difference"):
            est = getattr(self, name)
            out[name] = None if est is None else {"mean": est.mean, "ci": [est.low, est.high], "sem": est.sem}
        return out


@dataclass(frozen=True)
class Report:
    suite: dict  # {name, config_hash}
    seeds: tuple[int, ...]
    tolerance: float
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    level: float = 1 - FAMILY_ALPHA

    @property
    def regressed(self) -> bool:
        return any(r.verdict in ("regression", "failed") for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def as_dict(self) -> dict:
        return {"kind": "harness-ci-report", "result": "regression" if self.regressed else "pass",
                "exit_code": self.exit_code, "suite": self.suite, "seeds": list(self.seeds),
                "tolerance": self.tolerance, "level": self.level,
                "method": "paired by prompt, seed spread pooled over both runs (stats.rerun_difference_ci); "
                          "one gated table per loss, Bonferroni over losses; other tables reported",
                "rows": [r.as_dict() for r in self.rows], "notes": list(self.notes)}


# ----------------------------------------------------------------------------------- baseline files

def _harness_version() -> str:
    try:
        return importlib.metadata.version("harness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _baseline_entry(record: dict) -> dict:
    return {"loss": {k: record["loss"].get(k) for k in ("name", "sha256", "path")},
            "status": record["status"], "beta": record["beta"], "metrics": record["metrics"],
            "seeds": list(record["seeds"]), "outcomes": record["outcomes"]}


def _check_baseline_record(r: dict, allow_dirty: bool) -> None:
    name = r["loss"]["name"]
    out = r.get("outcomes")
    if not isinstance(out, dict) or not isinstance(out.get("tables"), dict):
        raise CIError(f"{name}: the run carries no per-prompt outcomes (record schema {r.get('schema_version')}); "
                      "a baseline needs them: update the harness and re-run --update-baseline")
    rows = out["tables"].get(out.get("primary", "verdict")) or []
    status = out.get("seed_status") or ["measured"] * len(rows)
    measured = sum(1 for row, st in zip(rows, status, strict=False) if row is not None and st == "measured")
    if measured < MIN_SEEDS:
        raise CIError(f"{name}: {measured} seed(s) measured on the gated table; a baseline needs at least "
                      f"{MIN_SEEDS} to estimate training noise: --update-baseline --seeds {DEFAULT_SEEDS}")
    revision = str(r.get("provenance", {}).get("git_revision") or "")
    if revision.endswith("+dirty") and not allow_dirty:
        raise CIError(f"{name} was run from a checkout with uncommitted changes ({revision}); commit first so "
                      "the baseline records what made it (or pass --allow-dirty for a local baseline)")


def make_baseline(records: list[dict], *, allow_dirty: bool = False) -> dict:
    """A baseline from ok multi-seed bench records with outcomes, of one suite config and seed list."""
    if not records:
        raise CIError("a baseline needs at least one loss; pass --loss FILE or --losses a.py,b.py")
    failed = [f"{r['loss']['name']} ({r['status']}: {r['error']})" for r in records if r["status"] != "ok"]
    if failed:
        raise CIError(f"refusing to write a baseline from failed runs: {'; '.join(failed)}")
    first = records[0]
    for r in records:
        _check_baseline_record(r, allow_dirty)
        if r["suite"]["config_hash"] != first["suite"]["config_hash"] or r["seeds"] != first["seeds"]:
            raise CIError("all runs of one baseline must share the suite config and the seeds")
    names = [r["loss"]["name"] for r in records]
    if len(set(names)) != len(names):
        raise CIError(f"two losses share a name ({', '.join(names)}); a baseline keys losses by name")
    prov = provenance()
    return {"kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA_VERSION, "created_at": now_iso(),
            "suite": {k: first["suite"][k] for k in ("name", "config_hash", "config")},
            "seeds": list(first["seeds"]), "harness_version": _harness_version(),
            "packages": prov["packages"], "provenance": prov, "records_provenance":
                {r["loss"]["name"]: r.get("provenance", {}) for r in records},
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

def verdict(diff: CrossedEstimate, tolerance: float) -> str:
    if diff.high < -tolerance:
        return "regression"
    if diff.low > tolerance:
        return "improvement"
    return "unchanged"


def _as_record(baseline: dict, entry: dict) -> dict:
    """A baseline entry in the shape ``harness.comparison`` compares."""
    return {"loss": {**entry["loss"], "source": ""}, "suite": baseline["suite"], "status": entry["status"],
            "seeds": entry["seeds"], "outcomes": entry["outcomes"], "schema_version": BASELINE_SCHEMA_VERSION}


def _rerun(record: dict, base: dict, table: str, level: float):
    """(baseline, now, now - baseline) on ``table``: a rerun's seeds are fresh draws (another machine's
    trajectories drift), so runs are paired by prompt and the seed spread is pooled (harness.stats.paired.rerun_difference_ci)."""
    now, then = usable_table(record, table), usable_table(base, table)
    try:
        return (win_rate_ci(then, level), win_rate_ci(now, level), rerun_difference_ci(now, then, level))
    except ValueError as e:
        raise CompareError(str(e)) from None


def _compare_loss(name: str, base: dict, record: dict, cfg: ComparisonConfig, level: float) -> list[Row]:
    if record["status"] != "ok":
        return [Row(name, "status", "failed", note=f"{record['status']}: {record['error']}")]
    try:
        table = compare_records(record, base, table=cfg.table, level=level).table  # comparability checks
        then, now, diff = _rerun(record, base, table, level)
    except CompareError as e:
        raise CIError(f"{name}: {e}; regenerate the baseline with --update-baseline if the suite changed") from None
    rows = [Row(name, table, verdict(diff, cfg.tolerance), then, now, diff, "",
                minimum_detectable_drop(diff, cfg.tolerance, DETECT_POWER))]
    for other in sorted(set(record["outcomes"]["tables"]) & set(base["outcomes"]["tables"]) - {table, REFERENCE_TABLE}):
        try:
            then, now, diff = _rerun(record, base, other, level)
        except CompareError as e:
            rows.append(Row(name, other, "reported", note=f"not compared: {e}"))
            continue
        rows.append(Row(name, other, "reported", then, now, diff, f"not gated ({verdict(diff, cfg.tolerance)})"))
    return rows


def _provenance_notes(baseline: dict, records: list[dict]) -> list[str]:
    """What differs between the machine that made the baseline and this one (explains small drifts)."""
    if not records:
        return []
    now = records[0]["provenance"]
    # the baseline run's own record provenance (its hardware carries the run's CPU policy, which the
    # baseline file's top-level provenance, taken when the file was written, does not)
    then = (baseline.get("records_provenance") or {}).get(records[0]["loss"]["name"]) or baseline.get("provenance", {})
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
    known = [r for r in records if r["loss"]["name"] in baseline["losses"]]
    level = 1.0 - FAMILY_ALPHA / max(1, len(known))
    rows: list[Row] = []
    for record in records:
        name = record["loss"]["name"]
        entry = baseline["losses"].get(name)
        if entry is None:
            rows.append(Row(name, "-", "new", note="not in the baseline; add it with --update-baseline"))
            continue
        if entry["loss"].get("sha256") != record["loss"]["sha256"]:
            notes.append(f"{name}: the loss file changed since the baseline")
        rows += _compare_loss(name, _as_record(baseline, entry), record, cfg, level)
    seeds = tuple(records[0]["seeds"]) if records else tuple(baseline["seeds"])
    if list(seeds) != list(baseline["seeds"]):
        notes.append(f"seeds {list(seeds)} differ from the baseline's {baseline['seeds']}: "
                     "every measured seed of both runs is used (fresh draws)")
    if len(known) > 1:
        notes.append(f"{len(known)} losses gated: each interval at level {level:.4f} (Bonferroni)")
    notes += _provenance_notes(baseline, records)
    suite = {"name": baseline["suite"]["name"], "config_hash": baseline["suite"]["config_hash"]}
    return Report(suite, seeds, cfg.tolerance, tuple(rows), tuple(notes), level)


# ------------------------------------------------------------------------------------------ output

def _fmt(est: CrossedEstimate | None, signed: bool = False) -> str:
    if est is None:
        return "-"
    sign = "+" if signed else ""
    return f"{100 * est.mean:{sign}.1f} [{100 * est.low:{sign}.1f}, {100 * est.high:{sign}.1f}]"


def _table_rows(report: Report) -> list[list[str]]:
    return [[r.loss, r.metric, _fmt(r.baseline), _fmt(r.current), _fmt(r.difference, signed=True),
             "" if r.detectable_drop is None else f"{100 * r.detectable_drop:.1f}",
             r.verdict.upper() if r.verdict in ("regression", "failed") else r.verdict, r.note]
            for r in report.rows]


HEADERS = ["loss", "table", "baseline % [CI]", "now % [CI]", "now - baseline [CI]", "detectable drop", "verdict", "note"]


def _explain(report: Report) -> str:
    return (f"A regression is a drop whose {report.level:.1%} CI of (now - baseline), paired by prompt, "
            f"lies entirely below -{100 * report.tolerance:g} points; 'detectable drop' is the drop caught with "
            f"{DETECT_POWER:.0%} probability at this run's noise (win-rate points).")


def format_table(report: Report) -> str:
    from tabulate import tabulate

    head = (f"suite {report.suite['name']} (config {report.suite['config_hash']}), seeds {list(report.seeds)}, "
            f"tolerance {report.tolerance:g}")
    result = "REGRESSION" if report.regressed else "PASS: nothing regressed"
    lines = [head, tabulate(_table_rows(report), headers=HEADERS, disable_numparse=True), _explain(report),
             *[f"note: {n}" for n in report.notes], result]
    return "\n".join(lines)


def format_markdown(report: Report) -> str:
    """A CI job summary (GitHub's $GITHUB_STEP_SUMMARY renders it)."""
    from tabulate import tabulate

    icon = ":x: regression" if report.regressed else ":white_check_mark: nothing regressed"
    lines = [f"## harness ci: {icon}", "",
             f"Suite `{report.suite['name']}` (config `{report.suite['config_hash']}`), seeds "
             f"{list(report.seeds)}, tolerance {report.tolerance:g}. " + _explain(report), "",
             tabulate(_table_rows(report), headers=HEADERS, tablefmt="github", disable_numparse=True)]
    if report.notes:
        lines += ["", "**Notes**", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ the run

@dataclass(frozen=True)
class CIConfig:
    baseline: Path  # the baseline file to compare with (or to write, with update)
    suite: str = "tiny"
    losses: tuple[str, ...] = ()  # loss files; empty: the losses recorded in the baseline
    seeds: int | None = None  # None: as many as the baseline has (DEFAULT_SEEDS on update)
    update: bool = False  # write the baseline from this run instead of comparing
    allow_dirty: bool = False  # accept runs from a checkout with uncommitted changes in a baseline
    backend: str = "auto"  # sandbox backend for run_bench
    out_dir: Path | None = None  # also write each run's record here (default: the run folder only)
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
        record = _bench(loss, suite=cfg.suite, backend=cfg.backend, progress=cfg.progress, out_dir=cfg.out_dir,
                        **kwargs)
        validate_record(record)
        record["loss"]["path"] = _portable(loss)
        records.append(record)
    return records


def run_ci(cfg: CIConfig) -> tuple[Report | None, list[dict]]:
    """Run the losses and compare with the baseline (or write it). Returns (report, records);
    the report is None after --update-baseline. Raises CIError for usage and infrastructure errors."""
    suite_config = _suite_config(cfg.suite)
    if cfg.update:
        revision = git_revision() or ""
        if revision.endswith("+dirty") and not cfg.allow_dirty:  # before minutes of training, not after
            raise CIError(f"this checkout has uncommitted changes ({revision}); commit first so the baseline "
                          "records what made it (or pass --allow-dirty for a local baseline)")
        records = _run_losses(cfg, cfg.losses, cfg.seeds or DEFAULT_SEEDS)
        write_baseline(make_baseline(records, allow_dirty=cfg.allow_dirty), cfg.baseline)
        return None, records
    baseline = read_baseline(cfg.baseline)
    check_compatible(baseline, cfg.suite, suite_config)  # before minutes of training, not after
    losses = cfg.losses or tuple(e["loss"]["path"] for e in baseline["losses"].values())
    seeds = cfg.seeds or len(baseline["seeds"])
    records = _run_losses(cfg, losses, seeds)
    return compare(baseline, records, cfg.comparison), records
