"""What a discovery run leaves in its --out directory, all derived from the archive.

    archive.sqlite     every candidate (the source of truth)
    candidates.jsonl   one line per candidate (id, parent_ids, sha256, status, fitness, ...), kept current
    candidates/NNNNN.py  the files that were evaluated
    best_loss.py       the best loss (by re-evaluated win rate once finalized), with a header naming
                       its lineage, its search fitness and its re-evaluated estimate
    report.md          settings, status counts, top candidates, re-evaluation, transfer, failures
    report.json        the same in machine form (harness.discovery.summary)
    fitness.png        fitness per candidate, best-so-far line, failures marked (the paper's Figure 3),
                       re-evaluated win rates with their CIs beside the search fitness
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.discovery.archive import DUPLICATE, PENDING, SCREENED, Archive, Candidate
from harness.discovery.config import DiscoveryConfig
from harness.discovery.summary import markdown_sections, write_json
from harness.paths import atomic_write_text as _atomic_write
from harness.text import clean_line, escape_markdown


def write_jsonl(archive: Archive, out: Path) -> None:
    lines = [json.dumps(c.summary()) for c in archive.all()]
    _atomic_write(Path(out) / "candidates.jsonl", "".join(line + "\n" for line in lines))


def lineage(archive: Archive, cid: int) -> list[Candidate]:
    """Ancestors of ``cid`` (breadth first, each once), the candidate itself first."""
    seen, order, frontier = set(), [], [cid]
    while frontier:
        c = archive.get(frontier.pop(0))
        if c.id in seen:
            continue
        seen.add(c.id)
        order.append(c)
        frontier.extend(c.parent_ids)
    return order


def _fmt(f: float | None) -> str:
    return "-" if f is None else f"{f:.4f}"


def _final_row(archive: Archive) -> dict | None:
    final = archive.get_run("finalize") or {}
    summary = final.get("summary") if final.get("done") else None
    if not summary or summary.get("best") is None:
        return None
    return next(r for r in summary["top"] if r["id"] == summary["best"])


def _ci(v) -> str:
    return "-" if not v else f"[{v[0]:.4f}, {v[1]:.4f}]"


def write_best(archive: Archive, out: Path, config: DiscoveryConfig) -> Path | None:
    final = _final_row(archive)
    search_best = archive.best()
    best = archive.get(final["id"]) if final else search_best
    path = Path(out) / "best_loss.py"
    if best is None:
        if path.exists():
            path.unlink()
        return None
    # names and operators are proposer-made: one line each, so none can end the comment and become code
    chain = "\n".join(f"#   #{c.id} {clean_line(c.name)} (gen {c.generation}, "
                      f"{clean_line(c.meta.get('operator', c.proposer))}, "
                      f"fitness {_fmt(c.fitness)}, parents {list(c.parent_ids)})" for c in lineage(archive, best.id))
    seeds = best.metrics.get("seeds")
    if final:
        d = final.get("vs_dpo_difference")
        vs = "-" if d is None else f"{d:+.4f} {_ci(final.get('vs_dpo_difference_ci'))}"
        chosen = (f"# Chosen on the re-evaluated estimate: win rate {final['reeval_win_rate']:.4f} "
                  f"{_ci(final.get('reeval_ci'))} on fresh seeds {final['reeval_seeds']} (minus DPO: {vs});\n"
                  f"# search fitness {best.fitness:.4f} with seeds {seeds}. The search's own best was "
                  f"#{search_best.id} {clean_line(search_best.name)} (fitness {search_best.fitness:.4f}).\n")
    else:
        chosen = (f"# Search fitness (win rate) {best.fitness:.4f} with seeds {seeds}; NOT re-evaluated on fresh\n"
                  "# seeds (run `harness discover --finalize DIR`): a one-seed maximum is biased upwards.\n")
    header = (
        f"# Discovered by `harness discover` (proposer {config.proposer}, suite {config.eval.suite}).\n"
        f"# Candidate #{best.id} {clean_line(best.name)}.\n{chosen}"
        "# Re-bench with a leaderboard's seeds before submitting.\n"
        f"# sha256 of the code below: {best.sha256}\n# Lineage:\n{chain}\n\n")
    _atomic_write(path, header + best.code)
    return path


def _cost_text(archive: Archive, config: DiscoveryConfig) -> str:
    if config.proposer == "llm" and config.llm.prices() is None:
        return (f"unknown (no price for model {escape_markdown(config.llm.model)} at this endpoint; "
                "pass --price-in and --price-out)")
    return f"${archive.total_cost():.4f}"


def write_report(archive: Archive, out: Path, config: DiscoveryConfig, stop_reason: str) -> Path:
    cands = archive.all()
    counts = archive.status_counts()
    lines = [f"# Discovery report: {config.proposer} on {config.eval.suite}", "",
             f"- stop reason: {stop_reason or 'running'}",
             f"- candidates: {archive.count()} of budget {config.budget} (+{counts.get(DUPLICATE, 0)} "
             "near-duplicates not evaluated)",
             f"- evaluation: evaluator {config.eval.evaluator}, {config.eval.seeds} seed(s) per candidate, "
             f"executor {config.executor}, parallel {config.parallel}",
             f"- API cost: {_cost_text(archive, config)}",
             "- statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), "",
             "Failures carry their status and error and have no fitness (they are never scored as 0).", "",
             "![fitness over candidates](fitness.png)", "", "## Best candidates", "",
             "| id | name | fitness | generation | parents | operator |", "|---|---|---|---|---|---|"]
    for c in archive.scored()[:10]:
        lines.append(f"| {c.id} | {escape_markdown(c.name)} | {c.fitness:.4f} | {c.generation} | "
                     f"{list(c.parent_ids)} | {escape_markdown(c.meta.get('operator', '-'))} |")

    lines += markdown_sections(archive)
    screened = [c for c in cands if c.status == SCREENED]
    if screened:
        lines += ["", f"## Stopped by the cascade's screen ({len(screened)}, most recent 10)", ""]
        lines += [f"- #{c.id} {escape_markdown(c.name)}: {escape_markdown(clean_line(c.error)[:200])}"
                  for c in screened[-10:]]
    failures = [c for c in cands if c.status not in ("ok", PENDING, DUPLICATE, SCREENED)]
    lines += ["", "## Failures (most recent 10)", ""]
    for c in failures[-10:]:
        error = (c.error or "").strip().splitlines()
        last = clean_line(error[-1] if error else "")[:200]
        lines.append(f"- #{c.id} {escape_markdown(c.name)}: **{c.status}**: {escape_markdown(last)}")
    path = Path(out) / "report.md"
    _atomic_write(path, "\n".join(lines) + "\n")
    return path


def plot_fitness(archive: Archive, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [c for c in archive.all() if c.status not in (PENDING, DUPLICATE)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ok = [(i, c.fitness) for i, c in enumerate(done, 1) if c.status == "ok"]
    failed = [i for i, c in enumerate(done, 1) if c.status not in ("ok", SCREENED)]
    screened = [i for i, c in enumerate(done, 1) if c.status == SCREENED]
    if ok:
        ax.scatter(*zip(*ok, strict=True), s=18, label="candidate fitness")
        best, xs, ys = float("-inf"), [], []
        for i, c in enumerate(done, 1):
            if c.status == "ok":
                best = max(best, c.fitness)
            if best > float("-inf"):
                xs.append(i)
                ys.append(best)
        ax.step(xs, ys, where="post", color="black", label="best so far")
    y = min((f for _, f in ok), default=0.0)
    if failed:
        ax.scatter(failed, [y] * len(failed), marker="x", color="red", label="failed (no fitness)")
    if screened:
        ax.scatter(screened, [y] * len(screened), marker="v", color="grey", label="screened out (no fitness)")
    reeval = _reevaluated_points(archive, {c.id: i for i, c in enumerate(done, 1)})
    if reeval:
        xs, ys, lows, highs = zip(*reeval, strict=True)
        ax.errorbar(xs, ys, yerr=[[m - lo for m, lo in zip(ys, lows, strict=True)],
                                  [hi - m for m, hi in zip(ys, highs, strict=True)]],
                    fmt="D", color="tab:orange", ms=5, capsize=3, label="re-evaluated, fresh seeds (CI)")
    ax.set_xlabel("candidate (in proposal order)")
    ax.set_ylabel("fitness (win rate)")
    if ok or failed or screened:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(out) / "fitness.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _reevaluated_points(archive: Archive, index: dict[int, int]) -> list[tuple]:
    final = archive.get_run("finalize") or {}
    rows = (final.get("summary") or {}).get("top", []) if final.get("done") else []
    return [(index[r["id"]], r["reeval_win_rate"], *r["reeval_ci"]) for r in rows
            if r.get("reeval_win_rate") is not None and r["id"] in index]


def write_all(archive: Archive, out: Path, config: DiscoveryConfig, stop_reason: str) -> None:

    write_jsonl(archive, out)
    write_best(archive, out, config)
    write_report(archive, out, config, stop_reason)
    write_json(archive, out, config, stop_reason)
    plot_fitness(archive, out)


def progress_bar(archive: Archive, config: DiscoveryConfig):
    from tqdm import tqdm

    bar = tqdm(total=config.budget, desc=f"discover[{config.proposer}]", unit="cand",
               disable=not config.progress, dynamic_ncols=True)
    update_bar(bar, archive)
    return bar


def update_bar(bar, archive: Archive) -> None:
    if bar is None:
        return
    counts = archive.status_counts()
    bar.n = sum(v for k, v in counts.items() if k not in (PENDING, DUPLICATE))
    best = archive.best()
    bar.set_postfix(best=_fmt(best.fitness if best else None),
                    failed=sum(v for k, v in counts.items() if k not in ("ok", PENDING, DUPLICATE)),
                    dup=counts.get(DUPLICATE, 0), refresh=False)
    bar.refresh()
