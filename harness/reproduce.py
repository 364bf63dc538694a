"""Re-running a record's seeds here and comparing them with the record, seed by seed and prompt by prompt.

``reproduce(record)`` re-runs the record's loss (its embedded source) in the record's own suite config
(the registered suite with the overrides that turn its config into the record's, checked by config
hash) on the record's seeds, or a subset, and classifies each seed:

- identical: the same status, per-seed metrics and per-prompt outcomes, bit for bit (rounded as stored);
- within tolerance: a measured seed whose win rate differs by at most ``tolerance`` (and whose
  censoring agrees); the default tolerance is REPRODUCTION_TOLERANCE, see below;
- different: anything else (another status, censored on one side only, a larger difference).

Where seeds differ, ``environment_differences`` names what differs between the two environments
(packages, the lock, the suite artifacts' fingerprint, the CPU instruction set, the platform, the CPU
policy), the usual causes.

REPRODUCTION_TOLERANCE: on one machine with the lock installed and the shipped artifacts, a seed
reproduces bit for bit (tests/test_reproduce.py; the CI check; every seed of the tiny v2 DPO and
DiscoPOP board records, benchmarks/results/reproduce/), so the default admits no difference. Across CPUs
with another vector instruction set, float reductions differ in the last bits: with torch, MKL and
oneDNN capped at AVX2 on an AVX-512 machine (benchmarks/validation/reproduce_isa.py), DPO's seed 0 moved
by 8e-7 in win rate and 35 of 256 prompts by at most 1e-4 (the stored rounding)
(benchmarks/results/reproduce/dpo-seed0-avx2.json; one seed, one loss). Two machines reporting the
same instruction set can still differ, since MKL and oneDNN pick kernels by vendor and model too.

The default tolerance therefore follows the record's CPU (``default_tolerance``): REPRODUCTION_TOLERANCE
(0, bit for bit) when the record names this machine's CPU model and instruction set, else
CROSS_CPU_TOLERANCE, 0.001 (0.1 points per seed win rate, and per prompt on average in the
verifier's comparison): about a thousand times the measured cross-instruction-set difference, and far
below any difference a verdict resolves. A record made before CPU models were recorded
(``provenance.hardware.cpu_model`` absent) is taken as made on another CPU. ``--tolerance`` overrides
both. A bursting loss may amplify last-bit differences more than one seed of DPO measures.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.hyperparams import record_overrides
from harness.records import config_hash
from harness.suites import SUITES
from harness.text import clean_line

REPRODUCTION_TOLERANCE = 0.0  # win-rate points (as a fraction) allowed per seed; see the module docstring
CROSS_CPU_TOLERANCE = 0.001  # the same, when the record's CPU is not known to be this machine's

IDENTICAL, WITHIN, DIFFERENT = "identical", "within tolerance", "different"


class ReproduceError(ValueError):
    """The record cannot be re-run here (unknown suite, a config that cannot be rebuilt, no seeds)."""


@dataclass(frozen=True)
class SeedReproduction:
    seed: int
    verdict: str  # IDENTICAL, WITHIN or DIFFERENT
    claimed: float | None  # the record's win rate for this seed (None: censored/unresolved)
    measured: float | None
    prompts_differing: int | None  # prompts whose outcome differs (None: no per-prompt table to compare)
    max_prompt_difference: float | None
    detail: str


@dataclass(frozen=True)
class Reproduction:
    verdict: str  # the worst seed verdict
    seeds: tuple[SeedReproduction, ...]
    tolerance: float
    environment_differences: tuple[str, ...]
    rerun: dict = field(repr=False)
    tolerance_basis: str = "given"  # why this tolerance (default_tolerance's reason, or "given")
    made_here: bool = True  # False: compared with a run given to reproduce (``rerun=``), nothing trained

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "tolerance": self.tolerance, "tolerance_basis": self.tolerance_basis,
                "made_here": self.made_here,
                "environment_differences": list(self.environment_differences),
                "seeds": [s.__dict__ for s in self.seeds]}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def suite_overrides(record: dict) -> dict:
    """The dotted overrides that turn the registered suite's config into the record's; raises
    ReproduceError when the result does not hash to the record's config hash."""
    name = record["suite"]["name"]
    if name not in SUITES:
        raise ReproduceError(f"the record's suite {name!r} is not registered here; choices: {', '.join(SUITES.names())}")
    suite = SUITES.get(name)
    mine, theirs = _flatten(suite.config.as_dict()), _flatten(record["suite"]["config"])
    if set(theirs) - set(mine):
        raise ReproduceError(f"the record's suite config has fields this harness lacks: "
                             f"{', '.join(sorted(set(theirs) - set(mine)))}; check out the record's revision "
                             f"({record['provenance'].get('git_revision')}) to re-run it")
    overrides = {k: v for k, v in theirs.items() if mine.get(k) != v and not (
        isinstance(mine.get(k), tuple) and list(mine[k]) == v)}
    try:
        rebuilt = suite.with_overrides(overrides)
    except (KeyError, TypeError, ValueError) as e:
        raise ReproduceError(f"the record's suite config cannot be rebuilt here: {e}") from None
    got = config_hash(rebuilt.config.as_dict())
    if got != record["suite"]["config_hash"]:
        raise ReproduceError(f"the record's suite config rebuilds to hash {got}, not its {record['suite']['config_hash']}")
    return overrides


def primary_row(record: dict, seed: int) -> list | None:
    """Seed ``seed``'s per-prompt scores in ``record``'s primary outcomes table, or None when the record
    has no such table or seed (schema 1, a failed run) or the seed was not measured there."""
    out = record.get("outcomes")
    if not isinstance(out, dict) or not isinstance(out.get("tables"), dict):
        return None
    table = out["tables"].get(out.get("primary", "verdict"))
    if not isinstance(table, list) or seed not in record["seeds"]:
        return None
    return table[record["seeds"].index(seed)]


def _strip(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("seconds", "timings")}


def compare_seed(record: dict, rerun: dict, seed: int, tolerance: float) -> SeedReproduction:
    """Classify one seed of ``rerun`` against the same seed of ``record``."""
    if seed not in record["seeds"]:
        return SeedReproduction(seed, DIFFERENT, None, None, None, None, f"the record has no seed {seed}")
    claimed_entry = record["per_seed"][record["seeds"].index(seed)] if record["status"] == "ok" else {}
    claimed = claimed_entry.get("win_rate")
    if rerun["status"] != record["status"]:
        return SeedReproduction(seed, DIFFERENT, claimed, None, None, None,
                                f"status {rerun['status']} here, {record['status']} in the record")
    if record["status"] != "ok":
        return SeedReproduction(seed, IDENTICAL, None, None, None, None, f"both {record['status']}")
    entry = rerun["per_seed"][rerun["seeds"].index(seed)]
    measured = entry.get("win_rate")
    mine, theirs = primary_row(rerun, seed), primary_row(record, seed)
    differing = max_diff = None
    if mine is not None and theirs is not None and len(mine) == len(theirs):
        diffs = [abs(a - b) for a, b in zip(mine, theirs, strict=True)]
        differing, max_diff = sum(d > 0 for d in diffs), max(diffs, default=0.0)
    elif (mine is None) != (theirs is None):
        differing = -1  # one side has a per-prompt table, the other none
    if _strip(entry) == _strip(claimed_entry) and mine == theirs:
        return SeedReproduction(seed, IDENTICAL, claimed, measured, differing, max_diff, "bit for bit")
    if (claimed is None) != (measured is None):
        return SeedReproduction(seed, DIFFERENT, claimed, measured, differing, max_diff,
                                "censored on one side only (the seed did not reach the KL budget on one)")
    if claimed is None:  # censored on both: a censored seed proves nothing either way
        return SeedReproduction(seed, DIFFERENT, None, None, differing, max_diff,
                                "censored in both, but the trajectories differ")
    delta = abs(float(measured) - float(claimed))
    verdict = WITHIN if delta <= tolerance else DIFFERENT
    return SeedReproduction(seed, verdict, claimed, measured, differing, max_diff,
                            f"win rate differs by {delta:.4f} (tolerance {tolerance:.4f})")


_PROVENANCE_FACTS = (
    ("lock", lambda r: (r["provenance"].get("lock") or {}).get("sha256")),
    ("lock mismatches", lambda r: tuple((r["provenance"].get("lock") or {}).get("mismatches") or ())),
    ("suite artifacts", lambda r: (r["suite"].get("artifacts") or {}).get("fingerprint")),
    ("CPU instruction set", lambda r: record_cpu(r)[0]),
    ("CPU model", lambda r: record_cpu(r)[1]),
    ("deterministic algorithms", lambda r: (r["provenance"].get("determinism") or {}).get("use_deterministic_algorithms")),
    ("platform", lambda r: r["provenance"].get("platform")),
    ("python", lambda r: r["provenance"].get("python")),
    ("CPU policy", lambda r: (r["provenance"].get("hardware", {}).get("cpu_policy") or {}).get("torch_threads_per_process")),
)


def environment_differences(record: dict, rerun: dict) -> tuple[str, ...]:
    """What differs between the environment of ``record`` and that of ``rerun`` (the usual causes)."""
    out = []
    for label, get in _PROVENANCE_FACTS:
        a, b = get(record), get(rerun)
        if a != b:
            out.append(f"{label}: record {a!r}, here {b!r}")
    pa, pb = record["provenance"].get("packages", {}), rerun["provenance"].get("packages", {})
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            out.append(f"package {name}: record {pa.get(name)}, here {pb.get(name)}")
    return tuple(out)


def record_cpu(record: dict) -> tuple[str | None, str | None]:
    """(instruction set, CPU model) a record states it was made on; None for a fact it does not state."""
    prov = record.get("provenance") if isinstance(record.get("provenance"), dict) else {}
    isa = (prov.get("determinism") or {}).get("isa") if isinstance(prov.get("determinism"), dict) else None
    model = (prov.get("hardware") or {}).get("cpu_model") if isinstance(prov.get("hardware"), dict) else None
    return (isa if isinstance(isa, str) else None), (model if isinstance(model, str) else None)


def default_tolerance(record: dict, rerun: dict | None = None) -> tuple[float, str]:
    """(tolerance, why) for re-running ``record`` here (or for comparing it with ``rerun``, a run made
    elsewhere), by the module doc's rule: REPRODUCTION_TOLERANCE when the record names this machine's
    (the rerun's) CPU model and instruction set, CROSS_CPU_TOLERANCE otherwise."""
    from harness.environment import cpu_isa, cpu_model

    isa, model = record_cpu(record)
    here_isa, here_model = (cpu_isa(), cpu_model()) if rerun is None else record_cpu(rerun)
    whose = "this one" if rerun is None else "the run's"
    if isa is not None and model is not None and (isa, model) == (here_isa, here_model):
        return REPRODUCTION_TOLERANCE, f"the record's CPU is {whose} ({model}, {isa}): bit for bit"
    stated = f"{clean_line(model)[:120] if model else 'model not recorded'}, {clean_line(isa)[:20] if isa else 'instruction set not recorded'}"
    return CROSS_CPU_TOLERANCE, (f"the record's CPU ({stated}) is not known to be {whose} ({here_model}, {here_isa}): "
                                 "the cross-CPU tolerance")


def check_rerun(record: dict, rerun: dict, seeds: list[int]) -> None:
    """Raise ReproduceError unless ``rerun`` is a run of ``record``'s loss bytes, suite config and beta
    holding ``seeds``: what ``reproduce(record, rerun=...)`` needs to compare instead of running."""
    def facts(r):
        return ((r.get("loss") or {}).get("sha256"), (r.get("suite") or {}).get("name"),
                (r.get("suite") or {}).get("config_hash"), r.get("beta"))

    mine, theirs = facts(record), facts(rerun)
    names = ("loss sha256", "suite", "suite config hash", "beta")
    differ = [f"{n}: record {clean_line(str(a))[:70]}, run {clean_line(str(b))[:70]}"
              for n, a, b in zip(names, mine, theirs, strict=True) if a != b]
    if differ:
        raise ReproduceError("the given run is not a re-run of this record (" + "; ".join(differ) + ")")
    missing = [s for s in seeds if s not in (rerun.get("seeds") or [])]
    if missing:
        raise ReproduceError(f"the given run has no seed {missing} (it ran seeds {rerun.get('seeds')})")


def reproduce(record: dict, *, seeds: list[int] | None = None, tolerance: float | None = None,
              backend: str = "auto", progress: bool = False, jobs: int | None = None,
              rerun: dict | None = None) -> Reproduction:
    """Re-run ``seeds`` (default: all of the record's) of ``record`` here and compare; see the module doc.

    ``tolerance`` None: ``default_tolerance(record)``. ``rerun``: a run already made of the same loss
    bytes, suite config and beta (e.g. the regression check's, on the record's seeds), compared instead
    of running anything (``check_rerun``). Raises ReproduceError when the record cannot be re-run
    (unknown suite, unrebuildable config, a seed the record does not have) or ``rerun`` is not a re-run
    of it."""
    from harness.bench import BenchUsageError, run_bench

    if tolerance is None:
        tolerance, basis = default_tolerance(record, rerun)
    else:
        tolerance, basis = float(tolerance), "given"

    seeds = list(record["seeds"]) if seeds is None else list(seeds)
    unknown = [s for s in seeds if s not in record["seeds"]]
    if unknown or not seeds:
        raise ReproduceError(f"seeds {unknown or seeds} are not in the record's seeds {record['seeds']}")
    if rerun is not None:
        check_rerun(record, rerun, seeds)
        return _compared(record, rerun, seeds, tolerance, basis, made_here=False)
    overrides = {**suite_overrides(record), **record_overrides(record)}  # the record's own loss setting too
    with tempfile.TemporaryDirectory(prefix="harness-reproduce-") as tmp:
        # the record's loss name is the submitter's text: never a path (a name such as "../../x" must not
        # leave the temporary folder); the loss file is written under a name made of safe characters
        name = re.sub(r"[^A-Za-z0-9_-]", "_", str(record["loss"]["name"]))[:100] or "loss"
        path = Path(tmp) / f"{name}.py"
        path.write_bytes(record["loss"]["source"].encode("utf-8"))
        try:
            rerun = run_bench(path, suite=record["suite"]["name"], seeds=len(seeds), seed_ids=seeds,
                              beta=record["beta"], backend=backend, progress=progress, overrides=overrides,
                              jobs=jobs)
        except BenchUsageError as e:
            raise ReproduceError(str(e)) from None
    return _compared(record, rerun, seeds, tolerance, basis)


def _compared(record: dict, rerun: dict, seeds: list[int], tolerance: float, basis: str,
              made_here: bool = True) -> Reproduction:
    results = tuple(compare_seed(record, rerun, s, tolerance) for s in seeds)
    order = (IDENTICAL, WITHIN, DIFFERENT)
    verdict = max((r.verdict for r in results), key=order.index)
    diffs = environment_differences(record, rerun) if verdict != IDENTICAL else ()
    return Reproduction(verdict, results, tolerance, diffs, rerun, basis, made_here)


def format_reproduction(rep: Reproduction, source: str) -> str:
    how, where = ("re-run here", "here") if rep.made_here else ("compared with the given run", "run")
    lines = [f"reproduce {clean_line(source)}: {rep.verdict.upper()} ({len(rep.seeds)} seed(s) {how})",
             f"  tolerance {rep.tolerance:g} per seed win rate ({clean_line(rep.tolerance_basis)})"]
    for s in rep.seeds:
        def fmt(v):
            return ("censored" if v is None else f"{100 * v:.2f}")
        prompts = "" if s.prompts_differing is None else (
            "; per-prompt table missing on one side" if s.prompts_differing < 0 else
            f"; {s.prompts_differing} prompt(s) differ (max {s.max_prompt_difference:.4f})")
        lines.append(f"  seed {s.seed}: {s.verdict}: record {fmt(s.claimed)}, {where} {fmt(s.measured)}{prompts}"
                     f" ({s.detail})")
    if rep.environment_differences:
        lines.append("  where the environments differ:")
        lines += [f"    {clean_line(d)}" for d in rep.environment_differences]
    elif rep.verdict != IDENTICAL:
        lines.append("  the recorded environments agree: the difference comes from the code or the machine")
    return "\n".join(lines)
