"""The winner's-curse correction: re-bench the search's top candidates on fresh seeds, then choose.

The best search fitness of a long run is partly luck (the maximum of many noisy one-seed scores is
biased upwards: the winner's curse, Thaler 1988; ShinkaEvolve's users report noisy scores crowning
false winners). So when a search ends, the ``top_k`` candidates by search fitness and DPO
(losses/dpo.py) are benched again on ``reeval_seeds`` fresh seeds, disjoint from the search seeds
(rebench.fresh_seeds), and compared paired on those seeds and prompts
(harness.comparison.compare_records -> harness.stats.paired.paired_difference_ci) with DPO and with the
untrained reference (the record's ``reference`` table). The run's best is the candidate with the
highest re-evaluated win rate; the report shows search fitness beside it (the shrinkage).

State lives in the archive (run key ``finalize``): each re-bench is saved as it completes, so a
finalize killed halfway resumes where it stopped, and a finalized run is never finalized again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.rebench import REFERENCE_LOSS, bench, fresh_seeds, search_seed_list
from harness.stats.crossed import win_rate_ci
from harness.stats.paired import paired_difference_ci

KEY = "finalize"
DPO_LABEL = "dpo"


def state(archive: Archive) -> dict | None:
    return archive.get_run(KEY)


def is_done(archive: Archive) -> bool:
    return bool((state(archive) or {}).get("done"))


def finalize(archive: Archive, out: Path, config: DiscoveryConfig) -> dict:
    """Re-evaluate (once per run); return the ``finalize`` state with its ``summary``."""
    saved = state(archive)
    if saved and saved.get("done"):
        return saved
    s, e = config.finalize, config.eval
    search = search_seed_list(e.suite, e.evaluator, e.seeds, e.overrides)
    seeds = fresh_seeds(search, s.reeval_seeds)
    top, twins = top_candidates(archive, s.top_k)
    st = saved or {"done": False, "search_seeds": search, "fresh_seeds": seeds, "top": top, "twins": twins,
                   "settings": {"top_k": s.top_k, "reeval_seeds": s.reeval_seeds, "level": s.level},
                   "records": {}, "seconds": 0.0}
    archive.set_run(KEY, st)
    folder = Path(out) / "finalize"
    t0 = time.monotonic()
    jobs = [(DPO_LABEL, REFERENCE_LOSS)] + [(str(cid), _candidate_file(archive, out, cid)) for cid in st["top"]]
    for label, path in jobs:
        if label in st["records"]:
            continue
        record = bench(path, evaluator=e.evaluator, suite=e.suite, seeds=list(st["fresh_seeds"]),
                       overrides=e.overrides, out_dir=folder, beta=e.beta, backend=e.backend)
        st["records"][label] = record["record_path"] or _inline(record)
        st["seconds"] = st["seconds"] + time.monotonic() - t0
        t0 = time.monotonic()
        archive.set_run(KEY, st)
    st["summary"] = summarize(archive, st, s.level)
    st["done"] = True
    archive.set_run(KEY, st)
    return st


def top_candidates(archive: Archive, k: int) -> tuple[list[int], dict[str, int]]:
    """The ``k`` best candidates by search fitness, one per behaviour: a candidate whose behaviour
    key (its loss values and shape on the check's fixed probes) equals a better one's is left out:
    it is almost surely the same function written another way (e.g. relu(exp(x)) for exp(x)), and
    re-benching it would spend a slot on a copy. Returns (ids, {left-out id: its twin})."""
    top: list[int] = []
    twins: dict[str, int] = {}
    seen: dict[str, int] = {}
    for c in archive.scored():
        if len(top) >= k:
            break
        if c.behaviour_key is not None and c.behaviour_key in seen:
            twins[str(c.id)] = seen[c.behaviour_key]
            continue
        if c.behaviour_key is not None:
            seen[c.behaviour_key] = c.id
        top.append(c.id)
    return top, twins


def _candidate_file(archive: Archive, out: Path, cid: int) -> Path:
    path = Path(out) / "candidates" / f"{cid:05d}.py"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(archive.get(cid).code)
    return path


def _inline(record: dict) -> dict:
    return {k: record[k] for k in ("status", "error", "loss", "suite", "seeds", "outcomes", "metrics") if k in record}


def load(ref) -> dict:
    """A saved record: its JSON file, or the record itself when it was kept inline."""
    import json

    return ref if isinstance(ref, dict) else json.loads(Path(ref).read_text())


def summarize(archive: Archive, st: dict, level: float) -> dict:
    """Per re-evaluated candidate: search fitness, re-evaluated win rate, paired differences."""
    dpo = load(st["records"][DPO_LABEL])
    dpo_est = own_estimate(dpo, level)
    rows = []
    for cid in st["top"]:
        c = archive.get(cid)
        rec = load(st["records"][str(cid)])
        row = {"id": cid, "name": c.name, "sha256": c.sha256, "search_fitness": c.fitness,
               "search_seeds": list(st["search_seeds"]), "reeval_seeds": list(st["fresh_seeds"]),
               "status": rec.get("status"), "error": rec.get("error"), "record": _path_of(st["records"][str(cid)])}
        row.update(candidate_vs(rec, dpo, level))
        rows.append(row)
    ranked = sorted((r for r in rows if r.get("reeval_win_rate") is not None),
                    key=lambda r: (-r["reeval_win_rate"], r["id"]))
    search_best = archive.best()
    return {"top": rows, "best": ranked[0]["id"] if ranked else None,
            "search_best": search_best.id if search_best else None,
            "ranking": [r["id"] for r in ranked], "dpo": {"record": _path_of(st["records"][DPO_LABEL]), **dpo_est},
            "level": level, "twins": dict(st.get("twins") or {})}


def _path_of(ref) -> str | None:
    return ref if isinstance(ref, str) else None


def measured(record: dict, table: str) -> tuple[list[int], np.ndarray]:
    """(seeds, rows) of ``table`` on the seeds measured at the primary verdict (censored and
    unresolved seeds are a different measurement and are left out, harness.comparison)."""
    out = record["outcomes"]
    status = out.get("seed_status") or ["measured"] * len(record["seeds"])
    keep = [i for i, st in enumerate(status) if st == "measured" and out["tables"][table][i] is not None]
    return [record["seeds"][i] for i in keep], np.array([out["tables"][table][i] for i in keep], dtype=float)


def own_estimate(record: dict, level: float) -> dict:
    """Re-evaluated win rate with its CI and the paired difference against the untrained reference."""
    if record.get("status") != "ok":
        return {"reeval_win_rate": None, "reeval_note": f"status {record.get('status')}"}
    if not record.get("outcomes"):
        return {"reeval_win_rate": None, "reeval_note": "the suite's record has no per-prompt outcomes to pair on"}
    primary = record["outcomes"]["primary"]
    seeds, rows = measured(record, primary)
    if not seeds:
        return {"reeval_win_rate": None, "reeval_note": "no fresh seed measured at the verdict (all censored)"}
    est = win_rate_ci(rows, level)
    row = {"reeval_win_rate": est.mean, "reeval_ci": [est.low, est.high], "reeval_measured_seeds": seeds,
           "vs_reference_difference": None, "vs_reference_difference_ci": None}
    if "reference" in record["outcomes"]["tables"]:
        _, ref = measured(record, "reference")
        vs_ref = paired_difference_ci(rows, ref, level)
        row.update(vs_reference_difference=vs_ref.mean, vs_reference_difference_ci=[vs_ref.low, vs_ref.high])
    return row


def candidate_vs(record: dict, dpo: dict, level: float) -> dict:
    """``own_estimate`` plus the paired difference candidate - DPO (same fresh seeds and prompts)."""
    from harness.comparison import CompareError, compare_records

    row = own_estimate(record, level)
    if row["reeval_win_rate"] is None:
        return {**row, "vs_dpo_difference": None, "vs_dpo_difference_ci": None}
    try:
        comp = compare_records(record, dpo, level=level)
    except CompareError as e:
        return {**row, "vs_dpo_difference": None, "vs_dpo_difference_ci": None, "vs_dpo_note": str(e)}
    d = comp.difference
    return {**row, "vs_dpo_difference": d.mean, "vs_dpo_difference_ci": [d.low, d.high],
            "vs_dpo_seeds": list(comp.seeds), "vs_dpo_verdict": verdict(d.low, d.high)}


def verdict(low: float, high: float) -> str:
    return "better than DPO" if low > 0 else "worse than DPO" if high < 0 else "no detectable difference from DPO"
