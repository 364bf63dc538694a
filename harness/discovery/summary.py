"""``report.json`` and the re-evaluation / transfer sections of report.md, from the archive.

report.json (schema 1):
    top        [{id, name, sha256, search_fitness, search_seeds, reeval_win_rate, reeval_ci, reeval_seeds,
                 vs_dpo_difference, vs_dpo_difference_ci, vs_reference_difference, ..._ci, status, record}]
               re-evaluated candidates in search order (empty until finalized), one per behaviour
    twins      {id: better id} left out of the top as behavioural twins (finalize.top_candidates)
    best       id chosen on the re-evaluated win rate (null until finalized or when none was measured)
    search_best  id with the best search fitness (the pre-correction choice)
    dpo        DPO's re-evaluated win rate and CI on the same fresh seeds
    transfer   [{id, suite, difference, difference_ci, transferred, ...}] or null when not run
    finalized  whether the re-evaluation is complete
    budget, candidates, statuses, stop_reason, suite, proposer, seeds, overrides
    wall_s     {search, finalize, transfer} seconds;  costs {api_usd, eval_seconds}
Names are loss-made text: report.md escapes them; JSON carries them as data.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.paths import atomic_write_text
from harness.text import clean_line, escape_markdown

SCHEMA = 1


def build(archive: Archive, config: DiscoveryConfig, stop_reason: str | None) -> dict:
    final = archive.get_run("finalize") or {}
    trans = archive.get_run("transfer") or {}
    summary = final.get("summary") if final.get("done") else None
    cands = archive.all()
    return {
        "schema": SCHEMA, "proposer": config.proposer, "suite": config.eval.suite,
        "evaluator": config.eval.evaluator, "search_seeds_per_candidate": config.eval.seeds,
        "overrides": dict(config.eval.overrides), "budget": config.budget, "candidates": archive.count(),
        "statuses": archive.status_counts(), "stop_reason": stop_reason, "finalized": summary is not None,
        "fresh_seeds": final.get("fresh_seeds"), "top": (summary or {}).get("top", []),
        "best": (summary or {}).get("best"), "search_best": (archive.best().id if archive.best() else None),
        "twins": (summary or {}).get("twins", {}),
        "dpo": (summary or {}).get("dpo"), "level": config.finalize.level,
        "transfer": trans.get("summary") if trans.get("done") else None,
        "wall_s": {"search": archive.get_run("search_wall_s", 0.0), "finalize": final.get("seconds"),
                   "transfer": trans.get("seconds")},
        "costs": {"api_usd": archive.total_cost(),
                  "eval_seconds": sum(c.eval_seconds or 0.0 for c in cands)},
    }


def write_json(archive: Archive, out: Path, config: DiscoveryConfig, stop_reason: str | None) -> Path:
    path = Path(out) / "report.json"
    atomic_write_text(path, json.dumps(build(archive, config, stop_reason), indent=2) + "\n")
    return path


def _f(v, signed: bool = False) -> str:
    return "-" if v is None else (f"{v:+.4f}" if signed else f"{v:.4f}")


def _ci(v) -> str:
    return "-" if not v else f"[{v[0]:.4f}, {v[1]:.4f}]"


def _twins(twins: dict | None) -> str:
    if not twins:
        return ""
    pairs = ", ".join(f"#{cid} (as #{twin})" for cid, twin in sorted(twins.items(), key=lambda kv: int(kv[0])))
    return (f" Left out of the top as behavioural twins of a better candidate (the same loss values and "
            f"shape on the check's probe inputs): {pairs}.")


def markdown_sections(archive: Archive) -> list[str]:
    final = archive.get_run("finalize") or {}
    if not final.get("done"):
        return ["", "## Re-evaluation", "",
                "Not finalized yet: the search fitness above is a one-run maximum, biased upwards "
                "(`harness discover --finalize DIR` re-benches the top candidates on fresh seeds)."]
    s = final["summary"]
    dpo = s["dpo"]
    lines = ["", "## Re-evaluation on fresh seeds (winner's-curse correction)", "",
             f"Top {len(s['top'])} by search fitness re-benched on seeds {final['fresh_seeds']} (search seeds "
             f"{final['search_seeds']}); DPO on the same seeds: {_f(dpo.get('reeval_win_rate'))} "
             f"{_ci(dpo.get('reeval_ci'))}. Differences are paired on seeds and prompts, "
             f"{s['level']:.0%} CIs. Best by re-evaluated win rate: "
             f"**#{s['best']}**; best by search fitness: #{s['search_best']}.{_twins(s.get('twins'))}", "",
             "| id | name | search fitness | re-evaluated [CI] | shrinkage | minus DPO [CI] | minus reference [CI] |",
             "|---|---|---|---|---|---|---|"]
    for r in s["top"]:
        w = r.get("reeval_win_rate")
        shrink = None if w is None or r["search_fitness"] is None else w - r["search_fitness"]
        note = "" if w is not None else f" ({escape_markdown(clean_line(r.get('reeval_note') or r.get('status')))})"
        lines.append(f"| {r['id']} | {escape_markdown(r['name'])} | {_f(r['search_fitness'])} | {_f(w)} "
                     f"{_ci(r.get('reeval_ci'))}{note} | {_f(shrink, True)} | {_f(r.get('vs_dpo_difference'), True)} "
                     f"{_ci(r.get('vs_dpo_difference_ci'))} | {_f(r.get('vs_reference_difference'), True)} "
                     f"{_ci(r.get('vs_reference_difference_ci'))} |")
    return lines + transfer_section(archive)


def _one_seed(rows: list[dict]) -> str:
    if not any(len(r.get("seeds") or []) == 1 for r in rows):
        return ""
    return (" Benched on one seed: its intervals cover prompts, not seed-to-seed variation, so nothing "
            "counts as transferred; re-run with `--transfer-seeds 3` before citing a difference.")


def transfer_section(archive: Archive) -> list[str]:
    trans = archive.get_run("transfer") or {}
    if not trans.get("done"):
        return []
    rows = trans["summary"]
    moved = [f"#{r['id']}" for r in rows if r["transferred"]]
    lines = ["", f"## Transfer to {escape_markdown(trans['suite'])} (held out)", "",
             f"Transferred (difference with DPO above 0, paired CI, at least 2 seeds): {', '.join(moved) or 'none'}."
             f"{_one_seed(rows)}", "",
             "| id | name | win rate | DPO | minus DPO [CI] | verdict |", "|---|---|---|---|---|---|"]
    for r in rows:
        verdict = r.get("verdict") or clean_line(r.get("note") or r.get("status"))
        lines.append(f"| {r['id']} | {escape_markdown(r['name'])} | {_f(r.get('win_rate'))} | "
                     f"{_f(r.get('dpo_win_rate'))} | {_f(r['difference'], True)} {_ci(r['difference_ci'])} | "
                     f"{escape_markdown(verdict)} |")
    return lines
