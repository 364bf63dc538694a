"""A board: the verified records of one suite, aggregated into entries and ranked with uncertainty.

Each ok record is one entry; its win rate and CI are the record's own. A loss with hyper-parameters has
one entry per setting, labelled with it (harness.hyperparams.entry_key and entry_label). Entries share seeds and
prompts, so they are ranked jointly and paired (``harness.stats.ranks``): every pair is compared on its
per-prompt outcomes, pairs are separated by Holm's family-wise procedure, and each entry gets a rank
interval [best, worst] (Arena's rank is the best end); the board is sorted by the estimate and carries
``separability`` (share of pairs separated). Entries whose verdict has censored or unresolved seeds
are a different measurement: they are shown apart, ranked only on the 1-nat table ("kl1") every entry
reached when the records carry it. Records without per-prompt outcomes (schema 1) cannot be paired:
a board made only of them falls back to CI overlap (``uncertainty_ranks``); among paired entries they
are shown apart. Failed runs and records of an older suite config ("stale") are listed, never ranked.
Only verified records are ranked or shown apart with the others (their provenance is proven, see
harness.leaderboard.proof, and the proof is sealed by this board's key, harness.seal: a
file's own ``"verified": true`` counts for nothing); unverified ones are listed in their own section,
never ranked, and so is a loss whose record carries a failed behaviour check (under failed runs).

Every file is checked in full on load, whoever wrote it: schema, strict field types and size caps,
self-consistent hashes, its file name, and (ok records) every aggregate recomputed from its per-seed
and per-prompt data (harness.leaderboard.proof.check_aggregates). A file that fails is listed under
``rejected`` with the reason and otherwise ignored: one bad file never stops a board from loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.hyperparams import entry_key, entry_label
from harness.leaderboard.folder import FAILED_DIR, RECORDS_DIR, BoardError, check_folder, read_json_file
from harness.leaderboard.proof import ProofError, check_aggregates
from harness.leaderboard.verify import VerificationError, record_filename, verify_integrity
from harness.seal import is_verified, sealed
from harness.stats.ranks import JointRanking, joint_ranking
from harness.suites import SUITES
from harness.suites.base import Column

# the column of a board whose suite is not registered here: the win rate every record carries
PRIMARY = Column("win_rate", "win rate", ci=True, percent=True)

__all__ = ["FAILED_DIR", "RECORDS_DIR", "Board", "BoardError", "Entry", "FailedRun", "Rejected", "build_board",
           "is_verified", "load_board", "read_board_records"]


@dataclass(frozen=True)
class Entry:
    """One ranked loss: the record's headline numbers plus what the page shows on click."""

    name: str  # the loss's name, with its hyper-parameter setting when it has one (hyperparams.entry_label)
    sha256: str
    win_rate: float | None  # None: no seed measured at the verdict point (every seed censored/unresolved)
    win_rate_ci: tuple[float, float] | None
    seeds: int
    created_at: str
    record_file: str  # relative to the board directory
    source: str
    # the suite's metrics for this record, as data (``Suite.board_metrics``); ``Board.columns`` say which
    # of them every renderer shows
    metrics: Mapping[str, Any] = field(default_factory=dict)
    harness_version: str = ""
    git_revision: str | None = None
    judge_id: str = ""
    # the matched-KL protocol: win rate where KL first reaches kl_budget; a seed that never reaches it
    # is censored, with no measured value (schema-1 records scored it at its last checkpoint)
    kl_budget: float | None = None
    censored_seeds: int = 0
    seed_win_rates: tuple[tuple[int, float], ...] = ()  # (seed, that seed's win rate)
    # per seed, the (step, kl, reward) points of the training trajectory (for the frontier plot)
    trajectories: tuple[tuple[tuple[float, float, float], ...], ...] = ()
    rank: int = 0  # best end of rank_interval (Chatbot Arena's rank upper bound)
    rank_interval: tuple[int, int] | None = None  # [best, worst], jointly at 95%
    ranked_on: str | None = None  # outcomes table the rank comes from ("verdict", "kl1"); None: unpaired
    apart_reason: str = ""  # why the entry is shown apart from the main ranking
    verified: bool = False  # provenance proven (run here, signed by a trusted runner, or seeds re-run) and sealed
    proof: str = ""  # how: "run here", "signed", "seeds 0, 1, 2 of 3 re-run here"; for unverified ones, why not
    # AlpacaEval's leaderboard columns where they mean the same (leaderboard.csv): the headline's standard
    # error, the (seed, prompt) scores behind it, the mean length in characters of the kept answers, and the
    # length-controlled win rate of suites judged by an LLM (with its standard error)
    standard_error: float | None = None
    n_total: int | None = None
    avg_length: float | None = None
    lc_win_rate: float | None = None
    lc_standard_error: float | None = None
    # the record's answers block (harness.transcript), for the board's answers/ pages; None: it keeps none
    answers: dict | None = field(default=None, compare=False, repr=False)
    key: str = ""  # the entry's identity: the sha256, plus the setting's key for a loss with hyper-parameters

    def __post_init__(self):
        if not self.key:
            object.__setattr__(self, "key", self.sha256)

    def metric(self, key: str):
        """The board metric ``key`` of this entry (None when the record has none)."""
        return self.metrics.get(key)

    @property
    def answers_page(self) -> str | None:
        """The board-relative path of this entry's answers page (harness.viewer), when it has answers."""
        return None if self.answers is None else f"answers/{Path(self.record_file).stem}.html"


@dataclass(frozen=True)
class FailedRun:
    name: str
    sha256: str
    status: str
    error: str
    created_at: str
    record_file: str
    source: str = ""


@dataclass(frozen=True)
class Rejected:
    """A file of the board that is not a usable record, and why (never read further, never ranked)."""

    record_file: str
    reason: str


@dataclass(frozen=True)
class Unreadable:
    """What ``read_board_records`` gives for a file it could not read as a record."""

    reason: str


@dataclass(frozen=True)
class Board:
    suite: str
    config_hash: str
    entries: tuple[Entry, ...]  # ranked, best first
    failed: tuple[FailedRun, ...] = ()
    stale: tuple[Entry, ...] = ()
    config: dict = field(default_factory=dict)
    apart: tuple[Entry, ...] = ()  # not on the main scale (censored / unresolved seeds, no outcomes)
    ranking: JointRanking | None = None  # the main ranking's pairs (keys: Entry.key), for head-to-head views
    apart_ranking: JointRanking | None = None  # every entry on the "kl1" table, when available
    unverified: tuple[Entry, ...] = ()  # current suite config, provenance not proven: listed, not ranked
    # the suite's board columns (``Suite.board_columns``): the primary win rate first, then its other metrics
    columns: tuple[Column, ...] = (PRIMARY,)

    @property
    def metric_columns(self) -> tuple[Column, ...]:
        """The columns after the primary win rate (which every renderer shows with its CI and rank)."""
        return self.columns[1:]
    rejected: tuple[Rejected, ...] = ()  # files that fail the checks on load, with the reason

    @property
    def separability(self) -> float | None:
        """Share of entry pairs whose paired difference is separated (family-wise, Holm)."""
        return None if self.ranking is None else self.ranking.separability

    @property
    def measures_kl(self) -> bool:
        return any(t for e in self.entries for t in e.trajectories)

    @property
    def kl_budget(self) -> float | None:
        return next((e.kl_budget for e in self.entries if e.kl_budget is not None), None)


def uncertainty_ranks(cis: list[tuple[float, float]]) -> list[int]:
    """Rank upper bound per entry: 1 + #entries whose CI lower bound exceeds this CI's upper bound."""
    return [1 + sum(1 for lo_j, _ in cis if lo_j > hi_i) for _, hi_i in cis]


def overlap_intervals(cis: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Unpaired fallback: [1 + #CIs entirely above, L - #CIs entirely below] per entry."""
    n = len(cis)
    return [(1 + sum(lo_j > hi for lo_j, _ in cis), n - sum(hi_j < lo for _, hi_j in cis)) for lo, hi in cis]


def _trajectories(record: dict) -> tuple:
    out = []
    for seed in record["per_seed"]:
        points = tuple((float(p["step"]), float(p["kl"]), float(p["reward"]))
                       for p in seed.get("trajectory") or ()
                       if p.get("kl") is not None and p.get("reward") is not None)
        if points:
            out.append(points)
    return tuple(out)


def _suite(name: str):
    """The registered suite of a board (what its boards show comes from it), or None for an unknown one."""
    return SUITES.get(name) if name in SUITES else None


def _entry(record: dict, relpath: str, suite=None) -> Entry:
    m, prov = record["metrics"], record["provenance"]
    measured = m.get("win_rate") is not None and m.get("win_rate_ci") is not None
    return Entry(
        name=entry_label(record), sha256=record["loss"]["sha256"], key=entry_key(record),
        win_rate=float(m["win_rate"]) if measured else None,
        win_rate_ci=(float(m["win_rate_ci"][0]), float(m["win_rate_ci"][1])) if measured else None, seeds=len(record["seeds"]), created_at=record["created_at"],
        record_file=relpath, source=record["loss"]["source"],
        metrics=suite.board_metrics(record) if suite is not None else dict(m),
        harness_version=str(prov.get("harness_version", "")), git_revision=prov.get("git_revision"),
        judge_id=str(record["judge"].get("id", "")), trajectories=_trajectories(record),
        kl_budget=m.get("kl_budget"), censored_seeds=_censored(m), verified=is_verified(record),
        proof=proof_text(record),
        seed_win_rates=tuple((s["seed"], float(s["win_rate"])) for s in record["per_seed"]
                             if s.get("win_rate") is not None),
        answers=record.get("answers") or None, **_alpaca_columns(record),
    )


def _alpaca_columns(record: dict) -> dict:
    m = record["metrics"]
    primary = (record.get("outcomes") or {}).get("primary", "verdict")
    rows = ((record.get("outcomes") or {}).get("tables") or {}).get(primary) or []
    outputs = [o for s in (record.get("answers") or {}).get("seeds", []) for o in s["outputs"]]

    def number(key):
        v = m.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    return {"standard_error": number("win_rate_sem"), "n_total": sum(len(r) for r in rows if r is not None) or None,
            "avg_length": sum(map(len, outputs)) / len(outputs) if outputs else None,
            "lc_win_rate": number("lc_win_rate"), "lc_standard_error": number("lc_win_rate_sem")}


def proof_text(record: dict) -> str:
    """One line on how a record was verified (which seeds were re-run), or why it is not."""
    note = record.get("verification")
    if not isinstance(note, dict) or note.get("verified") is not True:
        return "not verified"
    if not sealed(record):
        return "says verified, but carries no valid seal of this board's key"
    method = note.get("method")
    if method == "rerun" and isinstance(note.get("seeds_rerun"), list):
        seeds = ", ".join(str(s) for s in note["seeds_rerun"])
        return f"seeds {seeds} of {len(record['seeds'])} re-run here"
    return {"local": "run here", "signature": "signed by a trusted runner"}.get(method, str(method))


def check_failure(record: dict) -> str | None:
    """The error of a failed behaviour check (``harness check``) carried by the record, else None."""
    check = record.get("check")
    if isinstance(check, dict) and check.get("valid") is False:
        errors = check.get("errors") or ["the loss fails `harness check`"]
        return "harness check: " + "; ".join(str(e) for e in errors)
    return None


def _censored(metrics: dict) -> int:
    if "censored_seeds" in metrics:
        return int(metrics["censored_seeds"])
    return int(bool(metrics.get("censored")))


def _failed(record: dict, relpath: str) -> FailedRun:
    return FailedRun(entry_label(record), record["loss"]["sha256"], record["status"],
                     str(record["error"]), record["created_at"], relpath, record["loss"]["source"])


def admit(relpath: str, record, suite: str) -> str:
    """Check one file of the board in full; return its kind ("ok", "failed") or raise VerificationError."""
    if isinstance(record, Unreadable):
        raise VerificationError(record.reason)
    if not isinstance(record, dict):
        raise VerificationError(f"a record is a JSON object, this file holds a {type(record).__name__}")
    verify_integrity(record, suite)
    if Path(relpath).name != record_filename(record):
        raise VerificationError(f"a record's file is named {record_filename(record)}; it was renamed or edited "
                                "by hand. Re-submit it with `harness submit --record`")
    if Path(relpath).parent.name != (RECORDS_DIR if record["status"] == "ok" else FAILED_DIR):
        raise VerificationError(f"a record with status {record['status']!r} does not belong in {Path(relpath).parent.name}/")
    if record["status"] == "ok":
        try:
            check_aggregates(record)
        except ProofError as e:
            raise VerificationError(str(e)) from None
        except (TypeError, KeyError, ValueError, IndexError, AttributeError) as e:
            raise VerificationError(f"record data cannot be recomputed ({type(e).__name__}: {e})") from None
    return "ok" if record["status"] == "ok" else "failed"


def build_board(suite: str, expected_hash: str, records: list[tuple[str, dict]], config: dict | None = None) -> Board:
    """Rank ``records`` ([(path relative to the board dir, record)]) for suite ``suite``; its columns and
    the metrics each entry shows come from the registered suite (``board_columns``, ``board_metrics``); a
    record that fails ``admit`` is listed in ``rejected`` with the reason."""
    suite_obj = _suite(suite)
    current, stale, failed, unverified, rejected = [], [], [], [], []
    for relpath, record in records:
        try:
            kind = admit(relpath, record, suite)
        except VerificationError as e:
            rejected.append(Rejected(relpath, f"{e}. Remove the file (boards are rebuilt from records)."))
            continue
        if kind == "failed":
            failed.append(_failed(record, relpath))
        elif check_failure(record):  # never ranked, whatever its numbers
            failed.append(FailedRun(entry_label(record), record["loss"]["sha256"], "invalid",
                                    check_failure(record), record["created_at"], relpath, record["loss"]["source"]))
        elif record["suite"]["config_hash"] == expected_hash:
            (current if is_verified(record) else unverified).append((_entry(record, relpath, suite_obj), record))
            config = config or record["suite"]["config"]
        else:
            stale.append(_entry(record, relpath, suite_obj))
    ranked, apart, ranking, apart_ranking = rank_entries(current)
    failed.sort(key=lambda f: (f.created_at, f.name))
    stale.sort(key=by_estimate)
    unverified = sorted((e for e, _ in unverified), key=by_estimate)
    return Board(suite, expected_hash, tuple(ranked), tuple(failed), tuple(stale), config or {}, tuple(apart),
                 ranking, apart_ranking, tuple(unverified),
                 tuple(suite_obj.board_columns) if suite_obj is not None else (PRIMARY,), tuple(rejected))


def _measured_table(record: dict, table: str) -> list | None:
    """The record's outcomes table when every seed is measured on it, else None."""
    out = record.get("outcomes") or {}
    rows = (out.get("tables") or {}).get(table)
    status = out.get("seed_status") or []
    if rows is None or any(r is None for r in rows):
        return None
    if table == out.get("primary", "verdict") and any(st != "measured" for st in status):
        return None
    return rows


def _joint(entries: list[tuple[Entry, dict]], table: str) -> JointRanking:
    try:
        return joint_ranking({e.key: _measured_table(r, table) for e, r in entries},
                             {e.key: r["seeds"] for e, r in entries})
    except ValueError as err:
        raise BoardError(f"the board's records cannot be ranked together on {table!r}: {err}") from None


def _placed(e: Entry, ranking: JointRanking | None, table: str | None, reason: str = "") -> Entry:
    interval = None if ranking is None else tuple(ranking.rank_intervals[e.key])
    return Entry(**{**e.__dict__, "rank": interval[0] if interval else 0, "rank_interval": interval,
                    "ranked_on": table, "apart_reason": reason})


def by_estimate(e: Entry) -> tuple:
    """Sort key: best estimate first; entries with no measured verdict last."""
    return (e.win_rate is None, -(e.win_rate or 0.0), e.name, e.key)


def rank_entries(current: list[tuple[Entry, dict]]):
    """(ranked, apart, ranking, apart ranking): the main joint ranking on each record's primary table,
    and entries that cannot join it (see the module doc), sorted by estimate."""
    ordered = sorted(current, key=lambda er: by_estimate(er[0]))
    paired = [er for er in ordered if er[1].get("outcomes")]
    if not paired:  # schema-1 boards: unpaired CI overlap, labelled as such; censored entries apart
        whole = [e for e, _ in ordered if not e.censored_seeds]
        cis = [e.win_rate_ci for e in whole]
        apart = [_placed(e, None, None, "censored seeds at the KL budget (scored at their last checkpoint)")
                 for e, _ in ordered if e.censored_seeds]
        return [Entry(**{**e.__dict__, "rank": lo, "rank_interval": (lo, hi)})
                for e, (lo, hi) in zip(whole, overlap_intervals(cis), strict=True)], apart, None, None
    primary = paired[0][1]["outcomes"].get("primary", "verdict")
    main = [er for er in paired if er[1]["outcomes"].get("primary", "verdict") == primary
            and _measured_table(er[1], primary)]
    ranking = _joint(main, primary) if len(main) > 1 else None
    ranked = [_placed(e, ranking, primary) for e, _ in main]
    if len(main) == 1:
        ranked = [Entry(**{**ranked[0].__dict__, "rank": 1, "rank_interval": (1, 1)})]
    in_main = {e.key for e, _ in main}
    rest = [er for er in ordered if er[0].key not in in_main]
    at_kl1 = [er for er in paired if _measured_table(er[1], "kl1")]
    apart_ranking = _joint(at_kl1, "kl1") if rest and len(at_kl1) == len(paired) and len(at_kl1) > 1 else None
    apart = []
    for e, r in rest:
        if not r.get("outcomes"):
            apart.append(_placed(e, None, None, "no per-prompt outcomes (schema 1, or none recorded): re-run to rank it"))
        else:
            m = r.get("metrics") or {}
            counts = ", ".join(f"{m[k]} {k.split('_')[0]}" for k in ("censored_seeds", "unresolved_seeds")
                               if isinstance(m.get(k), int) and m[k] > 0)
            reason = f"{counts or 'censored or unresolved'} of {len(r.get('seeds') or [])} seeds at the KL budget"
            apart.append(_placed(e, apart_ranking, "kl1" if apart_ranking else None,
                                 reason + ("; ranked among all entries at KL 1" if apart_ranking else "")))
    return ranked, apart, ranking, apart_ranking


def read_board_records(board_dir: Path) -> list[tuple[str, dict | Unreadable]]:
    """Every record file of a board, as (relative path, record); a file that cannot be read as a record
    (a symbolic link, too large, not strict JSON) gives an ``Unreadable`` with the reason (build_board
    lists it as rejected). Temp files are not records. Raises BoardError for a folder whose records/
    or failed/ is not a real directory."""
    check_folder(board_dir)
    out = []
    for sub in (RECORDS_DIR, FAILED_DIR):
        folder = board_dir / sub
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            try:
                out.append((f"{sub}/{path.name}", read_json_file(path)))
            except ValueError as e:
                out.append((f"{sub}/{path.name}", Unreadable(f"not a readable record file: {e}")))
    return out


def load_board(board_dir: str | Path, suite: str, expected_hash: str) -> Board:
    return build_board(suite, expected_hash, read_board_records(Path(board_dir)))
