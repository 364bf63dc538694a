"""Paired comparison of two losses on one suite config: the difference of their primary metric.

Two records are comparable only when their suite name, suite ``config_hash`` and outcomes
``prompts_sha256`` are equal (the same prompts and reference answers); they are then compared on the
seeds both measured, prompt by prompt (``harness.stats.paired.paired_difference_ci`` on the two
(seeds x prompts) tables of ``record["outcomes"]``). For the primary "verdict" table only seeds
whose ``seed_status`` is "measured" in both records are used: a censored or unresolved seed is a
different measurement and is never mixed in (use ``table="kl1"`` or ``"end"`` for those).

A side is given as a record file, a stored run id (as ``harness runs`` prints it, through the ``lookup``
the commands pass), a board entry (loss name or sha256 prefix of a record on a board directory) or a loss
to run, a file or a built-in's name (then both sides are benchmarked on the same seeds, ``compare_specs``).

Unverified records are not evidence. A board entry names a VERIFIED record of the board (sealed by the
board's key after the board's checks, harness.seal); a name that only an unverified record
carries is refused unless ``include_unverified`` (CLI ``--include-unverified``), and then the side is
labelled UNVERIFIED in every output. A record file given by path is compared as given and labelled
UNVERIFIED unless it carries this board's seal; a loss file is run here (verified by construction).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.builtin import builtin_losses
from harness.seal import is_verified
from harness.specs import run_id
from harness.stats.crossed import CrossedEstimate, win_rate_ci
from harness.stats.paired import minimum_detectable_drop, paired_difference_ci
from harness.text import clean_line

MEASURED = "measured"
RESOLUTION_POWER = 0.80  # the power a comparison's stated resolution is for


class CompareError(ValueError):
    """Two sides cannot be compared (or one cannot be found); the message says why and the fix."""


@dataclass(frozen=True)
class Side:
    name: str
    sha256: str
    source: str  # where it came from: a record file, "board:<dir>", or the loss file that was run
    estimate: CrossedEstimate  # its own mean on the compared seeds
    verified: bool = True  # False: the record's numbers are its submitter's claim (labelled everywhere)

    def as_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "from": self.source, "verified": self.verified,
                **self.estimate.as_dict()}

    def label(self) -> str:
        return clean_line(self.name) + ("" if self.verified else " (UNVERIFIED)")


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    table: str
    seeds: tuple[int, ...]  # compared seeds (measured in both)
    dropped_seeds: tuple[int, ...]  # in both records but not compared (censored / unresolved / null)
    difference: CrossedEstimate  # mean(a - b)
    suite: dict  # {name, config_hash, prompts_sha256}

    @property
    def separated(self) -> bool:
        return self.difference.low > 0 or self.difference.high < 0

    @property
    def resolution(self) -> float:
        """The comparison's resolution: the true difference (either sign, as a share) its interval excludes 0
        for with 80% probability at the noise measured here (``harness.stats.paired.minimum_detectable_drop``
        with no tolerance: half-width + z_0.80 x SEM). It is estimated from these seeds, so with 3 seeds it
        is itself rough; more seeds shrink it (docs/statistics.md, "Seeds and power")."""
        return minimum_detectable_drop(self.difference, 0.0, RESOLUTION_POWER)

    def verdict(self) -> str:
        d, a, b = self.difference, self.a.label(), self.b.label()
        span = f"{100 * d.low:+.1f} to {100 * d.high:+.1f} points"
        if d.low > 0:
            text = f"{a} is better than {b}: {a} - {b} = {100 * d.mean:+.1f} points ({d.level:.0%} CI {span})"
        elif d.high < 0:
            text = f"{a} is worse than {b}: {a} - {b} = {100 * d.mean:+.1f} points ({d.level:.0%} CI {span})"
        else:
            text = (f"no detectable difference between {a} and {b}: {a} - {b} = {100 * d.mean:+.1f} points, "
                    f"{d.level:.0%} CI {span} includes 0; at this noise only differences of about "
                    f"{100 * self.resolution:.1f} points or more are detected ({RESOLUTION_POWER:.0%} power): "
                    "add seeds to resolve smaller ones")
        if not d.seed_noise:
            text += " (one seed: training noise is not in the interval)"
        unverified = [side.label() for side in (self.a, self.b) if not side.verified]
        if unverified:
            text += (f"; UNVERIFIED: {' and '.join(unverified)} neither ran here nor was verified by a board, so this "
                     "compares a submitter's claim")
        return text

    def as_dict(self) -> dict:
        return {"difference": self.difference.mean, "difference_ci": [self.difference.low, self.difference.high],
                "difference_sem": self.difference.sem, "level": self.difference.level, "paired": True,
                "separated": self.separated, "verdict": self.verdict(), "table": self.table,
                "minimum_detectable_difference": self.resolution, "resolution_power": RESOLUTION_POWER,
                "seeds": list(self.seeds), "dropped_seeds": list(self.dropped_seeds),
                "prompts": self.difference.prompts, "suite": dict(self.suite), "method": self.difference.as_dict()["method"],
                "a": self.a.as_dict(), "b": self.b.as_dict()}


def outcomes_of(record: dict, label: str) -> dict:
    """The record's ``outcomes`` block, checked against the shared contract; CompareError otherwise."""
    name = clean_line(record.get("loss", {}).get("name", "?"))
    if record.get("status") != "ok":
        raise CompareError(f"{label} ({name}) has status {record.get('status')!r}: a failed run has no metric to compare")
    out = record.get("outcomes")
    if not isinstance(out, dict):
        raise CompareError(f"{label} ({name}) has no per-prompt outcomes (record schema "
                           f"{record.get('schema_version')!r}); re-run it with this harness "
                           "(`harness bench --loss FILE`) to get a comparable record")
    tables, seeds = out.get("tables"), record.get("seeds")
    if not isinstance(tables, dict) or not isinstance(seeds, list) or not isinstance(out.get("prompts_sha256"), str):
        raise CompareError(f"{label} ({name}): outcomes lack tables, seeds or prompts_sha256; re-run it")
    for key, table in tables.items():
        if not isinstance(table, list) or len(table) != len(seeds):
            raise CompareError(f"{label} ({name}): outcomes table {clean_line(key)!r} has no row per seed; re-run it")
    return out


def check_comparable(a: dict, b: dict) -> None:
    """Refuse two records whose numbers mean different things, naming what differs."""
    for key, what in (("name", "suites"), ("config_hash", "suite configs")):
        if a["suite"][key] != b["suite"][key]:
            raise CompareError(f"different {what}: A {clean_line(a['suite'][key])}, B {clean_line(b['suite'][key])}; "
                               "only runs of the same suite config are comparable (re-run one of them)")
    pa, pb = a["outcomes"]["prompts_sha256"], b["outcomes"]["prompts_sha256"]
    if pa != pb:
        raise CompareError(f"different prompt sets (prompts_sha256 {clean_line(pa)[:12]} vs {clean_line(pb)[:12]}); "
                           "only runs scored on the same prompts are comparable")


def _table(record: dict, table: str, seeds: list[int]) -> np.ndarray:
    rows = [record["outcomes"]["tables"][table][record["seeds"].index(s)] for s in seeds]
    width = max((len(r) for r in rows if r is not None), default=0)
    try:
        return np.array([[np.nan] * width if r is None else r for r in rows], dtype=float)
    except (TypeError, ValueError) as e:
        raise CompareError(f"outcomes table {clean_line(table)!r} of {clean_line(record['loss']['name'])} is not a "
                           f"seeds x prompts table of numbers ({e}); re-run it") from None


def _usable_seeds(record: dict, table: str, primary: str) -> set[int]:
    rows = record["outcomes"]["tables"][table]
    status = record["outcomes"].get("seed_status") or [MEASURED] * len(record["seeds"])
    return {s for s, row, st in zip(record["seeds"], rows, status, strict=False)
            if row is not None and (table != primary or st == MEASURED)}


def usable_table(record: dict, table: str) -> np.ndarray:
    """The (S', P) rows of ``table`` that are measured (for the primary table: seed_status "measured")."""
    primary = record["outcomes"].get("primary", "verdict")
    usable = _usable_seeds(record, table, primary)
    seeds = [s for s in record["seeds"] if s in usable]
    if not seeds:
        raise CompareError(f"{clean_line(record['loss']['name'])} has no measured seed on table {clean_line(table)!r}")
    return _table(record, table, seeds)


def compare_records(a: dict, b: dict, *, table: str | None = None, level: float = 0.95,
                    sources: tuple[str, str] = ("A", "B"), verified: tuple[bool, bool] = (True, True)) -> Comparison:
    """Paired difference a - b of one outcomes table (default: the records' primary) on common seeds;
    ``verified`` says whether each side is evidence (False: labelled UNVERIFIED)."""
    oa, ob = outcomes_of(a, "A"), outcomes_of(b, "B")
    check_comparable(a, b)
    primary = oa.get("primary", "verdict")
    if ob.get("primary", "verdict") != primary:
        raise CompareError(f"the records gate different primary tables ({clean_line(primary)} vs {clean_line(ob.get('primary'))})")
    table = table or primary
    for label, out in (("A", oa), ("B", ob)):
        if table not in out["tables"]:
            raise CompareError(f"{label} has no outcomes table {clean_line(table)!r} (it has {', '.join(map(clean_line, out['tables']))})")
    shared = [s for s in a["seeds"] if s in set(b["seeds"])]
    seeds = [s for s in shared if s in _usable_seeds(a, table, primary) & _usable_seeds(b, table, primary)]
    if not seeds:
        hint = " or compare the table all seeds reach (--table kl1 / --table end)" if table == primary else ""
        raise CompareError(f"no seed is measured in both records for table {clean_line(table)!r} "
                           f"(A seeds {a['seeds']}, B seeds {b['seeds']}); run both on the same seeds{hint}")
    ta, tb = _table(a, table, seeds), _table(b, table, seeds)
    if ta.shape != tb.shape:
        raise CompareError(f"the tables have different prompt counts ({ta.shape[1]} vs {tb.shape[1]})")
    try:
        diff = paired_difference_ci(ta, tb, level)
        side_a, side_b = win_rate_ci(ta, level), win_rate_ci(tb, level)
    except ValueError as e:
        raise CompareError(f"outcomes table {clean_line(table)!r}: {e}; re-run the record(s)") from None
    suite = {"name": a["suite"]["name"], "config_hash": a["suite"]["config_hash"],
             "prompts_sha256": oa["prompts_sha256"]}
    return Comparison(_side(a, sources[0], side_a, verified[0]), _side(b, sources[1], side_b, verified[1]), table,
                      tuple(seeds), tuple(s for s in shared if s not in seeds), diff, suite)


def _side(record: dict, source: str, est: CrossedEstimate, verified: bool) -> Side:
    return Side(str(record["loss"]["name"]), str(record["loss"]["sha256"]), source, est, bool(verified))


# ------------------------------------------------------------------------------- finding the sides

def read_json_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CompareError(f"{path}: not a readable JSON record ({e})") from None
    if not isinstance(record, dict) or not {"loss", "suite", "seeds", "status"} <= set(record):
        raise CompareError(f"{path}: not a bench record (needs loss, suite, seeds, status)")
    return record


def board_entry(board_dir: Path, spec: str, include_unverified: bool = False) -> tuple[dict, str, bool]:
    """(record, where, verified) of the ok entry on ``board_dir`` whose loss name is ``spec`` or whose
    sha256 starts with it (6+ characters): a verified entry first (sealed by this board's key: exactly
    what the board's process wrote after its checks, harness.seal); an unverified one only with
    ``include_unverified``."""
    folder = board_dir / "records"
    if not folder.is_dir():
        raise CompareError(f"{board_dir} is not a board (no records/ folder); pass --board leaderboards/<suite>")
    hits: dict[bool, list] = {True: [], False: []}
    for path in sorted(folder.glob("*.json")):
        if path.is_symlink():
            continue  # a board holds its own files (harness.leaderboard.folder)
        record = read_json_record(path)
        loss = record["loss"] if isinstance(record.get("loss"), dict) else {}
        name, sha = loss.get("name"), str(loss.get("sha256", ""))
        if record.get("status") == "ok" and (name == spec or (len(spec) >= 6 and sha.startswith(spec.lower()))):
            hits[is_verified(record)].append((record, str(path)))
    found, verified = (hits[True], True) if hits[True] else (hits[False], False)
    if not found:
        raise CompareError(f"no entry named {clean_line(spec)!r} (or with that sha256 prefix, 6+ characters) on {board_dir}")
    if not verified and not include_unverified:
        raise CompareError(f"{clean_line(spec)!r} is on {board_dir} only as an UNVERIFIED record (neither run here nor "
                           "re-run nor signed): its numbers are not evidence. Verify it (`harness submit --record`) "
                           "or pass --include-unverified to compare it anyway, labelled as such")
    if len(found) > 1:
        shas = ", ".join(r["loss"]["sha256"][:12] for r, _ in found)
        raise CompareError(f"{clean_line(spec)!r} matches {len(found)} entries on {board_dir} ({shas}); give a sha256 prefix")
    return found[0][0], found[0][1], verified


def find_side(spec: str, board_dir: Path | None, include_unverified: bool = False,
              lookup: Callable[[str], tuple[dict, str, bool] | None] | None = None) -> tuple[dict, str, bool] | None:
    """(record, where it came from, verified) for a record file, a board entry, or what ``lookup(spec)``
    finds (the commands pass the run store's: run ids); None for a loss to be run (a loss file, or a
    built-in loss's name). With ``board_dir``, a board entry is looked for before a run id (an all-digit
    sha256 prefix is an entry there)."""
    path = Path(spec)
    if path.is_file() and path.suffix == ".py":
        return None
    if path.is_file():
        record = read_json_record(path)
        return record, str(path), is_verified(record)
    if board_dir is not None and (run_id(spec) is None or _on_board(board_dir, spec)):
        return board_entry(board_dir, spec, include_unverified)
    found = lookup(spec) if lookup is not None else None
    if found is not None:
        return found
    if spec in builtin_losses():
        return None
    raise CompareError(f"{clean_line(spec)!r} is neither a record file, a run id (`harness runs`), a loss file nor a "
                       "built-in loss; to name a board entry pass --board leaderboards/<suite>")


def _on_board(board_dir: Path, spec: str) -> bool:
    try:
        board_entry(board_dir, spec, include_unverified=True)
    except CompareError:
        return False
    return True


def resolve(spec: str, board_dir: Path | None, lookup=None) -> tuple[dict, str] | None:
    """(record, where it came from) for a record file, run id (``lookup``) or board entry, unverified
    entries included (to re-run one is how it is checked: ``harness reproduce``); None for a loss to run."""
    found = find_side(spec, board_dir, include_unverified=True, lookup=lookup)
    return None if found is None else found[:2]


def compare_specs(spec_a: str, spec_b: str, *, board_dir: Path | None = None, table: str | None = None,
                  level: float = 0.95, run=None, include_unverified: bool = False, lookup=None) -> Comparison:
    """Compare two sides given as record files, stored run ids, board entries, loss files or built-in names.

    Loss files are benchmarked by ``run(path, seeds)`` (the bench entry point) on the seeds of the
    other side when that is a record, so both sides share seeds; raises CompareError on refusal.
    Unverified board entries are used only with ``include_unverified`` (see the module doc).
    """
    found = [find_side(spec_a, board_dir, include_unverified, lookup),
             find_side(spec_b, board_dir, include_unverified, lookup)]
    seeds = next((len(r[0]["seeds"]) for r in found if r is not None), None)
    for i, spec in enumerate((spec_a, spec_b)):
        if found[i] is None:
            if run is None:
                raise CompareError(f"{clean_line(spec)} is a loss file and this comparison cannot run benchmarks")
            record = run(spec, seeds)
            found[i] = (record, str(record.get("path", spec)), True)  # run here
    (a, src_a, ok_a), (b, src_b, ok_b) = found
    return compare_records(a, b, table=table, level=level, sources=(src_a, src_b), verified=(ok_a, ok_b))


def format_comparison(c: Comparison) -> str:
    d = c.difference
    lines = [
        f"suite {clean_line(c.suite['name'])} (config {clean_line(c.suite['config_hash'])}), table {clean_line(c.table)!r}, "
        f"seeds {list(c.seeds)} x {d.prompts} prompts, paired",
        f"  A {c.a.label()} ({clean_line(c.a.sha256)[:12]}): {100 * c.a.estimate.mean:.1f} "
        f"[{100 * c.a.estimate.low:.1f}, {100 * c.a.estimate.high:.1f}]",
        f"  B {c.b.label()} ({clean_line(c.b.sha256)[:12]}): {100 * c.b.estimate.mean:.1f} "
        f"[{100 * c.b.estimate.low:.1f}, {100 * c.b.estimate.high:.1f}]",
        f"  A - B: {100 * d.mean:+.1f} points, {d.level:.0%} CI [{100 * d.low:+.1f}, {100 * d.high:+.1f}], "
        f"SEM {100 * d.sem:.2f}",
        f"  resolution: {100 * c.resolution:.1f} points (the difference detected with {RESOLUTION_POWER:.0%} power at "
        "this comparison's noise)",
    ]
    if c.dropped_seeds:
        lines.append(f"  not compared: seeds {list(c.dropped_seeds)} (censored, unresolved or unmeasured in one record)")
    lines.append(c.verdict())
    return "\n".join(lines)
