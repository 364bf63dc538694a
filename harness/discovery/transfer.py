"""The transfer check: do the re-evaluated winners hold up on a suite they were not searched on?

DiscoGen's meta-train / meta-test split: the ``transfer_top`` candidates with the best re-evaluated
win rate (finalize.py) and DPO are benched on a held-out suite (``transfer_suite``, with its own
overrides and seeds, the same for every loss) and compared with DPO, paired on seeds and prompts
(harness.comparison.compare_records). A candidate "transferred" when its difference with DPO on the
held-out suite has a CI above 0. State is kept in the archive (run key ``transfer``) as for finalize.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.finalize import DPO_LABEL, _candidate_file, _inline, _path_of, load, verdict
from harness.discovery.rebench import REFERENCE_LOSS, bench
from harness.suites import get_suite

KEY = "transfer"


def transfer(archive: Archive, out: Path, config: DiscoveryConfig, final: dict) -> dict | None:
    """Bench the re-evaluated top candidates and DPO on the held-out suite; None when not asked."""
    s, e = config.finalize, config.eval
    if s.transfer_suite is None:
        return None
    saved = archive.get_run(KEY)
    if saved and saved.get("done") and saved.get("suite") == s.transfer_suite:
        return saved
    ids = final["summary"]["ranking"][:s.transfer_top]
    st = saved if saved and saved.get("suite") == s.transfer_suite else {
        "done": False, "suite": s.transfer_suite, "overrides": dict(s.transfer_overrides), "ids": ids,
        "seeds": _seeds(s, e.evaluator), "records": {}, "seconds": 0.0}
    archive.set_run(KEY, st)
    folder = Path(out) / "transfer"
    t0 = time.monotonic()
    for label, path in [(DPO_LABEL, REFERENCE_LOSS)] + [(str(i), _candidate_file(archive, out, i)) for i in st["ids"]]:
        if label in st["records"]:
            continue
        record = bench(path, evaluator=e.evaluator, suite=st["suite"], seeds=st["seeds"], overrides=st["overrides"],
                       out_dir=folder, backend=e.backend)
        st["records"][label] = record["record_path"] or _inline(record)
        st["seconds"] += time.monotonic() - t0
        t0 = time.monotonic()
        archive.set_run(KEY, st)
    st["summary"] = summarize(archive, st, s.level)
    st["done"] = True
    archive.set_run(KEY, st)
    return st


def _seeds(settings, evaluator: str):
    """A count (the suite's first N seeds); the suite's default count when not given."""
    if settings.transfer_seeds is not None:
        return settings.transfer_seeds
    if evaluator == "fake":
        return 3

    suite = get_suite(settings.transfer_suite).with_overrides(dict(settings.transfer_overrides))
    return suite.default_seed_count


def summarize(archive: Archive, st: dict, level: float) -> list[dict]:
    """One entry per candidate: the held-out suite, the paired difference with DPO and its CI."""
    from harness.comparison import CompareError, compare_records

    dpo = load(st["records"][DPO_LABEL])
    rows = []
    for cid in st["ids"]:
        rec = load(st["records"][str(cid)])
        row = {"id": cid, "name": archive.get(cid).name, "suite": st["suite"], "overrides": st["overrides"],
               "status": rec.get("status"), "record": _path_of(st["records"][str(cid)]),
               "dpo_record": _path_of(st["records"][DPO_LABEL]), "difference": None, "difference_ci": None,
               "transferred": False}
        try:
            comp = compare_records(rec, dpo, level=level)
        except CompareError as e:
            row["note"] = str(e)
        else:
            d = comp.difference
            row.update(difference=d.mean, difference_ci=[d.low, d.high], seeds=list(comp.seeds),
                       win_rate=comp.a.estimate.mean, dpo_win_rate=comp.b.estimate.mean,
                       seed_noise=d.seed_noise, verdict=verdict(d.low, d.high),
                       # a one-seed interval leaves out seed-to-seed variation: never a transfer claim
                       transferred=bool(d.low > 0 and len(comp.seeds) > 1))
            if len(comp.seeds) == 1:
                row["verdict"] += " (one seed: the interval covers prompts only)"
        rows.append(row)
    return rows
