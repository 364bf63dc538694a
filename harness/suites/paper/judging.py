"""`harness bench` on a paper suite: per seed, the GPU job (train -> save -> generate, job.py) and
then the suite's LLM judge on the written answers, in this process.

The judge runs outside the candidate's job on purpose: it needs an API key, and a key never enters
the process or container that trains with untrusted loss code. The judge is the suite's judge
folder (harness/judges/configs/<judge>; ``--set judge=DIR`` for another), its endpoint the folder's
``base_url`` or OPENAI_BASE_URL, its key the environment variable the folder names.

What each judge-based suite reports (the paper's metrics, DiscoPOP paper Sec. 4):
* alpaca-eval, tldr: win rate (ties count half) and length-controlled win rate of the policy's
  answers against the suite's reference answers (GPT-4 Turbo's / the human TL;DR), 95% CIs
  clustered by prompt;
* mt-bench: the mean 1-10 grade over questions and both turns (the paper's MT-Bench score), plus
  the win rate against the reference answers that MT-Bench ships (math, reasoning, coding).
Seeds are pooled with the crossed seeds x prompts CI (harness.stats), as in the tiny suite; the LC win
rate through per-prompt influence-function pseudo-values (``lc_prompt_values``).
IMDb has no judge: its job returns a reward-KL point (imdb.py), one per beta of the sweep.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from harness.hashing import make_outcomes
from harness.judges.base import Comparison
from harness.judges.winrate import MIN_LC_PROMPTS, RIDGE, fit_length_glm, length_feature
from harness.stats.crossed import crossed_mean_ci, win_rate_ci
from harness.stats.intervals import bootstrap_ci
from harness.suites.base import SuiteResult
from harness.text import clean_line
from harness.transcript import block_from_seeds, shown_answers


def question(row: dict) -> str:
    """What the judge reads as the user's request (the template-formatted prompt is for the model)."""
    if row.get("turns"):
        return row["turns"][0]
    return row.get("instruction") or row.get("post") or row["prompt"]


def reference_text(row: dict, turn: int = 0) -> str:
    ref = row.get("reference")
    if isinstance(ref, list):
        return ref[turn] if len(ref) > turn and isinstance(ref[turn], str) else ""
    return ref or ""


def comparisons(eval_rows: list[dict], answers: list[dict]) -> list[Comparison]:
    """One comparison per answer (and per turn on MT-Bench), grouped by prompt id for the CIs."""
    by_id = {r["id"]: r for r in eval_rows}
    out = []
    for a in answers:
        row = by_id[a["id"]]
        for text in a["answers"]:
            out.append(Comparison(question(row), text, reference_text(row), group=str(row["id"]),
                                  category=row.get("category", "")))
        # checked_answers: a two-turn question has a second answer for every first one
        for first, text in zip(a["answers"], a.get("second_turn_answers", []), strict=False):
            follow_up = (f"{row['turns'][0]}\n\n[The assistant answered]\n{first}\n\n[Follow-up question]\n"
                         f"{row['turns'][1]}")
            out.append(Comparison(follow_up, text, reference_text(row, 1), group=str(row["id"]),
                                  category=row.get("category", "")))
    return out


def seed_result(judge, eval_rows: list[dict], answers: list[dict], *, seed: int) -> tuple[dict, dict]:
    """Scalar metrics of one seed and its per-prompt arrays (for the cross-seed CIs)."""
    from harness.judges.answers import summarize_run

    comps = comparisons(eval_rows, answers)
    run = judge.run(comps)
    report = summarize_run(judge, comps, run, seed=seed)
    judged = report["n_judged"] + report["n_graded_only"]  # an answer without a reference is graded only
    if report["stopped"] or judged < len(comps):
        raise RuntimeError(f"judge {judge.id} judged {judged} of {len(comps)} answers "
                           f"({report['stopped'] or 'unparseable verdicts'}); re-run to resume from the judgment cache")
    prefs, grades, with_ref = {}, {}, {}
    for c, j in zip(comps, run.judgments, strict=True):
        grade = j.details.get("grades", {}).get("output")
        if grade is not None:
            grades.setdefault(c.group, []).append(grade)
        if c.reference:
            with_ref.setdefault(c.group, []).append(j.preference)
        prefs.setdefault(c.group, []).append(j.preference)
    scored = with_ref if judge.spec.mode == "single" else prefs
    if not scored:
        raise RuntimeError(f"no answer of this suite has a reference answer to compare with (judge {judge.id})")
    groups = sorted(scored)
    arrays = {"win": np.array([np.mean(scored[g]) for g in groups]), "prompts": groups}
    metrics = {"seed": seed, "win_rate": float(arrays["win"].mean()), "n_compared": sum(map(len, scored.values())),
               # scalars, CIs and what to doubt about the judging (the per-item lists stay out)
               "judge_report": {k: v for k, v in report.items()
                                if not isinstance(v, (list, dict)) or k.endswith("_ci") or k == "warnings"}}
    if grades:
        arrays["score"] = np.array([np.mean(grades[g]) for g in sorted(grades)])
        metrics["mt_bench_score"] = float(arrays["score"].mean())
    judged = [(c, j) for c, j in zip(comps, run.judgments, strict=True) if c.group in scored]
    if len(groups) >= MIN_LC_PROMPTS:
        arrays["lc"] = lc_prompt_values([j.preference for _, j in judged], [len(c.output) for c, _ in judged],
                                        [len(c.reference) for c, _ in judged], [c.group for c, _ in judged], groups)
    est = bootstrap_ci(arrays["win"], seed=seed, bounds=(0.0, 1.0))
    metrics["win_rate_ci"] = [est.low, est.high]
    metrics["answers"] = _shown(judge, eval_rows, comps, run.judgments)
    return metrics, arrays


def _shown(judge, eval_rows: list[dict], comps: list[Comparison], judgments) -> dict:
    """Per eval row, its first answer's first turn with its verdict and the judge's reasoning (the record's
    answers block, harness.transcript; moved there by ``judge_seed_jobs``)."""
    first: dict[str, tuple] = {}
    for c, j in zip(comps, judgments, strict=True):
        if "[Follow-up question]" not in c.prompt:
            first.setdefault(c.group, (c, j))
    pairs = [first.get(str(r["id"])) for r in eval_rows]
    shown = shown_answers(judge, [p[0].output if p else "" for p in pairs], [p[1] for p in pairs if p])
    if len(shown["outputs"]) != len(shown["preference"]):  # a row without an answer: no verdict to show
        return None
    return shown


def lc_prompt_values(preferences, output_lengths, reference_lengths, groups, keys: list) -> np.ndarray:
    """Per-prompt pseudo-values of one seed's length-controlled win rate, (len(keys),), mean = its LC.

    LC = sigmoid(b0) of the length GLM (harness.judges.winrate). Its influence function (delta
    method on the ridge-penalised M-estimator: dLC = LC (1 - LC) [H^-1 sum_i x_i (y_i - p_i)]_0) is
    summed per prompt; pseudo-value_g = LC + G (IF_g - mean IF). Over prompts they have the
    cluster-robust (sandwich) variance of LC, and a (seeds x prompts) table of them gets the same
    crossed CI as a win rate (harness.stats.crossed.crossed_mean_ci): seed, prompt and residual noise."""
    y = np.asarray(preferences, dtype=float)
    x = np.column_stack([np.ones_like(y), length_feature(output_lengths, reference_lengths)])
    b = np.array(fit_length_glm(y, x[:, 1]))
    p = 1.0 / (1.0 + np.exp(-(x @ b)))
    hessian = (x * (p * (1 - p))[:, None]).T @ x + RIDGE * np.eye(2)
    lc = 1.0 / (1.0 + np.exp(-b[0]))
    row = np.linalg.solve(hessian, np.eye(2))[0] * lc * (1 - lc)  # d LC / d (score sum)
    index = {k: i for i, k in enumerate(keys)}
    per_prompt = np.zeros(len(keys))
    np.add.at(per_prompt, [index[g] for g in groups], (x * (y - p)[:, None]) @ row)
    return lc + len(keys) * (per_prompt - per_prompt.mean())


def _ci(prefix: str, est) -> dict:
    return {prefix: est.mean, f"{prefix}_ci": [est.low, est.high], f"{prefix}_sem": est.sem}


def aggregate(per_seed: list[dict], arrays: list[dict]) -> dict:
    """Cross-seed metrics, crossed seeds x prompts CIs (every seed answers the same prompts): win
    rate, LC win rate (per-prompt pseudo-values, ``lc_prompt_values``) and MT-Bench score; each
    printed SEM is the one its CI is built from. LC is None when a seed judged fewer prompts than the
    GLM needs (harness.judges.winrate.MIN_LC_PROMPTS)."""
    out = {**_ci("win_rate", win_rate_ci(np.array([a["win"] for a in arrays]))), "censored": False}
    if all("lc" in a for a in arrays):
        out.update(_ci("lc_win_rate", crossed_mean_ci(np.array([a["lc"] for a in arrays]))))
    else:
        out.update({"lc_win_rate": None, "lc_win_rate_ci": None, "lc_win_rate_sem": None})
    if all("score" in a for a in arrays):
        out.update(_ci("mt_bench_score", crossed_mean_ci(np.array([a["score"] for a in arrays]))))
    lo, hi = out["win_rate_ci"]
    out["verdict"] = ("better than the reference answers" if lo > 0.5 else "worse than the reference answers"
                      if hi < 0.5 else "indistinguishable from the reference answers")
    return out


def training_pair_counts(build_stats: dict) -> dict:
    """The build's truncation counts (harness.suites.paper.tokens.PairCounts) as record metrics."""
    counts = (build_stats or {}).get("pair_counts") or {}
    return {f"training_pairs_{k}": int(v) for k, v in counts.items() if isinstance(v, int)}


MAX_ANSWER_CHARS = 50_000  # far past any max_new_tokens the suites use; longer is not an honest job's answer


def seed_job(suite, artifacts, session, seed: int, beta: float, *, device: str, gpus: int = 1,
             work_dir: Path | None = None) -> dict:
    """Train and generate one seed (job.py's ``train_and_generate``); the answers inline, no host paths.
    The policy is saved under ``work_dir`` (a container's output folder: its /tmp is RAM-backed and
    counts against the memory limit), else in a temporary folder."""
    from harness.suites.paper.job import train_and_generate

    with tempfile.TemporaryDirectory(prefix=f"harness-{suite.name}-", dir=work_dir) as out:
        result = train_and_generate(suite, artifacts, session, seed=seed, beta=beta, out_dir=out, device=device,
                                    gpus=gpus)
        answers = [json.loads(line) for line in Path(result["answers"]).read_text().splitlines()]
    return {"seed": seed, "answers": answers, "generation": result["generation"],
            "loss_seconds": result["train"]["loss_seconds"], "timings": result["timings"]}


def _plain(info) -> dict:
    """A job's generation description (untrusted) as a flat dict of short, printable scalars."""
    if not isinstance(info, dict):
        return {}
    out = {}
    for k, v in list(info.items())[:32]:
        if isinstance(v, bool) or v is None or isinstance(v, (int, float)):
            out[clean_line(str(k))[:64]] = v
        elif isinstance(v, str):
            out[clean_line(str(k))[:64]] = clean_line(v)[:200]
    return out


def checked_answers(eval_rows: list[dict], answers) -> list[dict]:
    """A job's answers (untrusted: they come out of a container) as rows in ``eval_rows`` order, each
    {id, answers, second_turn_answers?}: exactly one row per evaluation prompt, the same number of
    answers (strings of at most MAX_ANSWER_CHARS) for every prompt, and a second-turn answer for every
    first one exactly where the prompt has two turns (MT-Bench's score is the mean over questions x 2
    turns: first turns alone would be another metric). Raises ValueError naming the first problem."""
    if not isinstance(answers, list):
        raise ValueError("a job's answers are not a list")
    by_id: dict = {}
    for a in answers:
        if not isinstance(a, dict) or not isinstance(a.get("answers"), list) or a.get("id") in by_id:
            raise ValueError("a job's answer row is malformed or repeats a prompt id")
        by_id[a.get("id")] = a
    ids = [r["id"] for r in eval_rows]
    if set(by_id) != set(ids):
        raise ValueError(f"a job answered {len(by_id)} prompts, not the suite's {len(ids)} evaluation prompts")
    counts = {len(by_id[i]["answers"]) for i in ids}
    if len(counts) != 1 or 0 in counts:
        raise ValueError("a job gave different numbers of answers per prompt")
    rows = []
    for row in eval_rows:
        a = by_id[row["id"]]
        turns = a.get("second_turn_answers", [])
        texts = [*a["answers"], *turns]
        if not all(isinstance(t, str) and len(t) <= MAX_ANSWER_CHARS for t in texts):
            raise ValueError(f"a job's answer is not text of at most {MAX_ANSWER_CHARS} characters")
        two_turns = len(row.get("turns") or []) >= 2
        if turns and not two_turns:
            raise ValueError("a job gave second-turn answers for a prompt without a second turn")
        if two_turns and len(turns) != len(a["answers"]):
            raise ValueError(f"a job gave {len(turns)} second-turn answers for {len(a['answers'])} first-turn answers "
                             f"of two-turn question {row['id']!r}: the MT-Bench score is the mean over both turns of "
                             "every question, so each first answer needs its second-turn answer")
        rows.append({"id": row["id"], "answers": list(a["answers"]),
                     **({"second_turn_answers": list(turns)} if turns else {})})
    return rows


def judge_seed_jobs(suite, artifacts, outputs: list[dict], seeds: list[int], *, judge=None) -> SuiteResult:
    """The suite's judge on every seed's answers (``seed_job`` outputs for ``seeds``, in order), checked
    first (``checked_answers``); every seed answered the same prompts."""
    import time

    from harness.judges.llm import LLMJudge

    judge = judge or LLMJudge(suite.config.judge)
    if [o["seed"] for o in outputs] != list(seeds):
        raise ValueError(f"the jobs report seeds {[o['seed'] for o in outputs][:8]}, not {list(seeds)[:8]}")
    answers = [checked_answers(artifacts.eval_rows, o["answers"]) for o in outputs]  # before any paid call
    timings = {"train": 0.0, "generate": 0.0, "judge": 0.0, "loss_calls": 0.0}
    per_seed, arrays = [], []
    for seed, out, rows in zip(seeds, outputs, answers, strict=True):
        timings["train"] += float(out["timings"]["train"])
        timings["generate"] += float(out["timings"]["generate"])
        timings["loss_calls"] += float(out["loss_seconds"])
        t = time.perf_counter()
        metrics, seed_arrays = seed_result(judge, artifacts.eval_rows, rows, seed=seed)
        timings["judge"] += time.perf_counter() - t
        metrics["generation"] = _plain(out["generation"])
        per_seed.append(metrics)
        arrays.append(seed_arrays)
    outcomes = make_outcomes(arrays[0]["prompts"], {"verdict": [a["win"].tolist() for a in arrays],
                                                   "end": [a["win"].tolist() for a in arrays]},
                             ["measured"] * len(arrays))
    answers = block_from_seeds(per_seed, [question(r) for r in artifacts.eval_rows],
                               [reference_text(r) for r in artifacts.eval_rows], judge_id=judge.id,
                               point="after training; first answer per prompt (first turn), judged against the "
                                     "reference answer")
    metrics = {**aggregate(per_seed, arrays), **training_pair_counts(artifacts.stats)}
    return SuiteResult(per_seed, metrics,
                       {"id": judge.id, "hash": judge.hash, "model": judge.spec.model, "endpoint": judge.endpoint},
                       timings, outcomes, answers=answers)


def run_judged_seeds(suite, artifacts, session, seeds: list[int], beta: float, *, judge=None, device=None,
                     progress: bool = True):
    """``PaperSuite.run_seeds`` for a judge-based paper suite: every seed's job here, then the judge on
    all of them (as ``--executor docker`` does; the judge's key is read at its first call)."""
    from harness.judges.llm import LLMJudge

    if suite.config.judge is None:
        raise RuntimeError(f"suite {suite.name!r} has no judge: its job measures a reward-KL point per beta "
                           "(containers/job.py; harness/suites/paper/imdb.py)")
    judge = judge or LLMJudge(suite.config.judge)  # its spec is loaded (and checked) before any training
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    outputs = [seed_job(suite, artifacts, session, seed, beta, device=device) for seed in seeds]
    return judge_seed_jobs(suite, artifacts, outputs, seeds, judge=judge)
