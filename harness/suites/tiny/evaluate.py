"""Per-seed training, then evaluation of its kept checkpoints (generate -> judge -> checkpoint metrics).

Called by ``harness.bench.run_bench``; works on any suite whose artifacts expose ``load_policy()``,
``tokenizer``, ``train_dataset``, ``eval_prompts``, ``eval_prompt_ids``, ``reference_text``,
``decode()`` and ``suppress``. Training keeps every step's weights (``StepWeights``, in memory or on
disk for another worker process to evaluate); a bracket in which KL jumps across a budget between two
checkpoints is evaluated densely on the run's own kept weights (harness.suites.tiny.budget);
``AdaptiveSeeds`` adds seeds until the headline CI is narrow.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from harness.judges.base import JUDGES, Comparison
from harness.stats.crossed import win_rate_ci
from harness.suites.base import AdaptiveSeeds, SuiteResult
from harness.suites.logprobs import sequence_logps
from harness.suites.tiny import budget as kl_budget
from harness.suites.tiny import generate
from harness.suites.tiny.answers import answers_block
from harness.suites.tiny.metrics import Checkpoint, aggregate, distinct_n, seed_metrics
from harness.train import train

GENERATION_SEED_OFFSET = 10_000  # policy samples never share a seed with the suite's reference samples


class _Progress:
    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="train+eval", unit="step", disable=not enabled, leave=False)

    def set(self, text: str, advance: int = 0):
        self.bar.set_description(text)
        self.bar.update(advance)

    def close(self):
        self.bar.close()


class _Ticks:
    """A seed worker process's progress: (text, steps) sent to the parent's bar (workers.py)."""

    def __init__(self, queue):
        self.queue = queue

    def set(self, text: str, advance: int = 0):
        self.queue.put((text, advance))

    def close(self):
        pass


def evaluate_checkpoint(model, ref_model, artifacts, judge, cfg, *, step: float, seed: int) -> Checkpoint:
    """Sample from the policy, judge against the reference completions, estimate KL(policy || ref).

    With ``cfg.comparisons == "all-references"`` each of the k policy samples of a prompt is compared
    with each of its r reference answers (k x r comparisons; the per-prompt score averages them), which
    costs only judge calls and removes most of the reference-draw noise; ``win_one`` keeps sample j
    against reference j (the single-reference score) for the power benchmark."""
    tok = artifacts.tokenizer
    samples, policy_logps = generate.sample(model, artifacts.eval_prompt_ids, cfg.sample, seed=GENERATION_SEED_OFFSET + seed,
                              pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, suppress=artifacts.suppress)
    k = cfg.sample.samples_per_prompt
    prompts = [p for p in artifacts.eval_prompt_ids for _ in range(k)]
    flat = [c for per_prompt in samples for c in per_prompt]
    # KL(pi || ref) = E_{y ~ pi}[log pi(y) - log ref(y)], estimated on the policy's own samples.
    kl = policy_logps - sequence_logps(ref_model, prompts, flat, pad_id=tok.pad_token_id,
                                                suppress=artifacts.suppress)
    texts = [[artifacts.decode(c) for c in per_prompt] for per_prompt in samples]
    refs = artifacts.reference_text
    r = len(refs[0])
    comparisons = [Comparison(artifacts.eval_prompts[i], texts[i][j], refs[i][m], str(i))
                   for i in range(len(samples)) for j in range(k) for m in range(r)]
    judgments = judge.judge(comparisons)
    pref = np.array([j.preference for j in judgments]).reshape(-1, k, r)
    one = pref[:, np.arange(k), np.arange(k) % r]  # sample j against reference j (mod r)
    reward = np.array([j.details["reward"] for j in judgments]).reshape(-1, k, r)[:, :, 0]
    ref_reward = np.array([j.details["reference_reward"] for j in judgments]).reshape(-1, k, r)[:, 0, 0]
    fluent = np.array([j.details["fluent"] for j in judgments]).reshape(-1, k, r)[:, :, 0]
    win = pref.mean(axis=(1, 2)) if cfg.comparisons == "all-references" else one.mean(axis=1)
    shown = {"outputs": [t[0] for t in texts], "preference": [float(p) for p in pref[:, 0, 0]],
             "notes": [f"gold reward {reward[i, 0]:+.2f} vs {ref_reward[i]:+.2f}; prompt score {win[i]:.2f}"
                       for i in range(len(texts))]}
    return Checkpoint(
        step=step, win=win, win_one=one.mean(axis=1), reward=reward.mean(axis=1), kl=float(kl.mean()),
        fluency=float(fluent.mean()), mean_length=float(np.mean([len(c) for c in flat])),
        distinct={n: distinct_n(flat, n) for n in range(1, cfg.distinct_n + 1)}, answers=shown,
    )


STEP0_FOLDER = "step0"  # beside the sealed artifacts; not in the manifest, so a bad file is just recomputed


def reference_checkpoint(artifacts, judge, cfg, *, seed: int, compute) -> Checkpoint:
    """The step-0 checkpoint, evaluated once per suite and seed and then reused from disk.

    At step 0 the policy IS the reference model, so this evaluation depends on the suite build, the
    evaluation settings, the judge and the seed, never on the loss: like the reference log-probs it
    is computed once per suite, not per candidate. It is the measured null of "better than
    reference" (the reference scored against its own reference answers, with their draw's noise).
    An unreadable or mismatched file is recomputed; a read-only cache (a job container) is not
    written to."""
    key = hashlib.sha256(json.dumps(
        {"sample": asdict(cfg.sample), "distinct_n": cfg.distinct_n, "judge": judge.hash, "seed": seed,
         "offset": GENERATION_SEED_OFFSET, "comparisons": cfg.comparisons, "layout": 2},
        sort_keys=True).encode()).hexdigest()[:16]
    path = Path(artifacts.folder) / STEP0_FOLDER / f"{key}.npz"
    n = len(artifacts.eval_prompt_ids)
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            cached = Checkpoint(step=0, win=f["win"], win_one=f["win_one"], reward=f["reward"], kl=meta["kl"],
                                fluency=meta["fluency"], mean_length=meta["mean_length"],
                                distinct={int(k): v for k, v in meta["distinct"].items()})
        if meta.get("key") == key and all(a.shape == (n,) for a in (cached.win, cached.win_one, cached.reward)):
            return cached
    except Exception:  # noqa: BLE001  (missing, partial or corrupted: compute it)
        pass
    checkpoint = compute()
    meta = {"key": key, "kl": checkpoint.kl, "fluency": checkpoint.fluency, "mean_length": checkpoint.mean_length,
            "distinct": checkpoint.distinct}
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}.npz")
        np.savez(tmp, win=checkpoint.win, win_one=checkpoint.win_one, reward=checkpoint.reward,
                 meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)
    except OSError:
        pass
    return checkpoint


class StepWeights:
    """The weights of every optimizer step of one seed's run (step -> state dict; ~1.5 MB a step for tiny),
    in memory, or as one file per step in ``folder`` so that another process can evaluate the run."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = None if folder is None else Path(folder)
        self._steps: dict[int, dict] = {}
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def put(self, step: int, state: dict) -> None:
        copy = {k: v.detach().clone() for k, v in state.items()}
        if self.folder is None:
            self._steps[step] = copy
        else:
            torch.save(copy, self.folder / f"{step}.pt")

    def get(self, step: int) -> dict:
        if self.folder is None:
            return self._steps[step]
        return torch.load(self.folder / f"{step}.pt", weights_only=True)

    def checkpoints(self, every: int) -> list[int]:
        """The kept steps that are checkpoints (step 0 and every ``every``-th), in order."""
        steps = self._steps if self.folder is None else (int(p.stem) for p in self.folder.glob("*.pt"))
        return sorted(s for s in steps if s % every == 0)

    def clear(self) -> None:
        self._steps.clear()
        if self.folder is not None:
            for p in self.folder.glob("*.pt"):
                p.unlink(missing_ok=True)


class _Seeds:
    """Shared state of one run's seeds: the judge, the reference model, progress and stage timings."""

    def __init__(self, suite, artifacts, session, beta: float, total_steps: int, progress: bool, ticks=None):
        self.suite, self.artifacts, self.session, self.beta = suite, artifacts, session, beta
        self.cfg = suite.config
        self.judge = JUDGES.get(self.cfg.judge)()
        self.ref_model = artifacts.load_policy()
        self.ref_model.eval()
        self.timings = {"train": 0.0, "evaluate": 0.0, "dense": 0.0, "loss_calls": 0.0}
        self.scratch = artifacts.load_policy()  # holds a kept step's weights while it is evaluated
        self.bar = _Progress(total_steps, progress) if ticks is None else _Ticks(ticks)

    def evaluate(self, model, step: float, seed: int) -> Checkpoint:
        return evaluate_checkpoint(model, self.ref_model, self.artifacts, self.judge, self.cfg.eval, step=step,
                                   seed=seed)

    def _train(self, seed: int, train_cfg, on_checkpoint) -> None:
        policy = self.artifacts.load_policy()
        with tempfile.TemporaryDirectory(prefix="harness-trl-") as out:
            info = train(policy, self.artifacts.train_dataset, self.artifacts.tokenizer, self.session, train_cfg,
                         beta=self.beta, seed=seed, output_dir=out, evaluate=on_checkpoint)
        self.timings["loss_calls"] += info["loss_seconds"]

    def trajectory(self, seed: int) -> tuple[list[Checkpoint], list[kl_budget.Crossing]]:
        """Train one seed, then evaluate it at step 0 (cached per suite) and every checkpoint; return the
        trajectory and each budget's crossing (``train_weights`` then ``evaluate_weights``)."""
        weights = StepWeights()
        self.train_weights(seed, weights)
        return self.evaluate_weights(seed, weights)

    def train_weights(self, seed: int, weights: StepWeights) -> None:
        """Train one seed, keeping the weights of every optimizer step (step 0 included) in ``weights``."""
        every = self.cfg.train.checkpoint_every

        def on_step(model, step):
            weights.put(step, model.state_dict())
            if step % every == 0:
                self.bar.set(f"seed {seed}: step {step}", every if step else 0)

        t = time.perf_counter()
        self._train(seed, replace(self.cfg.train, checkpoint_every=1), on_step)
        self.timings["train"] += time.perf_counter() - t

    def evaluate_weights(self, seed: int, weights: StepWeights) -> tuple[list[Checkpoint], list[kl_budget.Crossing]]:
        """The trajectory and crossings of a trained seed, from its kept weights (which are then cleared):
        ``evaluate_checkpoints`` on every checkpoint, then ``locate_crossings``.

        Evaluation never touches the training RNG (generate.sample forks it) and every evaluation is a
        function of the weights, the step and the seed alone, so evaluating after training, in this
        process or another, in one task or several, gives the numbers evaluating during it would."""
        trajectory = self.evaluate_checkpoints(seed, weights, weights.checkpoints(self.cfg.train.checkpoint_every))
        crossings = self.locate_crossings(seed, weights, trajectory)
        weights.clear()
        return trajectory, crossings

    def _evaluate_at(self, seed: int, weights: StepWeights) -> Callable[[float], Checkpoint]:
        def evaluate_at(step: float) -> Checkpoint:
            """The kept weights of a whole step, or of a fractional step t + a: theta_t + a (theta_{t+1} -
            theta_t), what step t+1 gives with its learning rate scaled by a (budget.py's module doc)."""
            t = math.floor(step)
            a = step - t
            state = weights.get(t)
            if a:
                after = weights.get(t + 1)
                state = {k: v + a * (after[k] - v) if v.is_floating_point() else v for k, v in state.items()}
            self.scratch.load_state_dict(state)
            return self.evaluate(self.scratch, step, seed)

        return evaluate_at

    def evaluate_checkpoints(self, seed: int, weights: StepWeights, steps: list[int]) -> list[Checkpoint]:
        """The checkpoints at ``steps`` (step 0: the per-suite cached reference checkpoint), in order."""
        evaluate_at = self._evaluate_at(seed, weights)
        points = []
        for step in steps:
            t = time.perf_counter()
            if step == 0:
                point = reference_checkpoint(self.artifacts, self.judge, self.cfg.eval, seed=seed,
                                             compute=lambda: evaluate_at(0))
            else:
                point = evaluate_at(step)
            points.append(point)
            self.timings["evaluate"] += time.perf_counter() - t
            self.bar.set(f"seed {seed}: KL {point.kl:.2f} win {100 * point.win.mean():.0f}%")
        return points

    def locate_crossings(self, seed: int, weights: StepWeights, trajectory: list[Checkpoint]) -> list[kl_budget.Crossing]:
        """Each KL budget's crossing on the whole trajectory; a bracket in which KL jumps across a budget
        by more than the bound is bisected on the very run's own weights (budget.refine), inside one
        step on fractional steps (budget.py's module doc); nothing is re-trained and no score is
        interpolated across the jump."""
        ev = self.cfg.eval
        evaluate_at = self._evaluate_at(seed, weights)
        t = time.perf_counter()
        crossings = []
        for b in ev.kl_budgets:
            c = kl_budget.locate(trajectory, b, ev.max_bracket_kl)
            crossings.append(kl_budget.refine(c, b, evaluate_at, ev.max_bracket_kl, ev.substep_bisections)
                             if c.status == "jump" else c)
        self.timings["dense"] += time.perf_counter() - t
        return crossings

    def close(self):
        self.bar.close()
        torch.set_num_threads(self.cfg.train.threads)


def run_seeds(suite, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
              auto: AdaptiveSeeds | None = None, in_processes=None) -> SuiteResult:
    """Train and evaluate every seed on the matched-KL protocol (``TinySuite.run_seeds``), with the
    per-prompt outcome tables. With ``auto``, ``seeds`` lists the candidates in order (at least ``auto.cap``): seeds are added
    until the headline CI's half-width is <= auto.target or auto.cap seeds ran; ``metrics["seeds_auto"]``
    says how many and why it stopped."""
    cfg = suite.config
    if auto is None:
        per_seed, arrays, judge_info, timings = train_seeds(suite, artifacts, session, seeds, beta, progress=progress,
                                                            in_processes=in_processes)
    else:
        per_seed, arrays, judge_info, timings, why = _auto_seeds(suite, artifacts, session, seeds, beta, auto,
                                                                 progress)
    t = time.perf_counter()
    metrics = aggregate(per_seed, arrays, cfg.eval, artifacts.eval_prompts)
    if auto is not None:
        metrics["seeds_auto"] = {"target_half_width": auto.target, "cap": auto.cap, "start": auto.start,
                                 "seeds": len(per_seed), "stopped": why}
    timings["aggregate"] = time.perf_counter() - t
    outcomes = metrics.pop("outcomes")
    answers = answers_block(per_seed, artifacts.eval_prompts, artifacts.reference_text, judge_info)
    return SuiteResult(per_seed, metrics, judge_info, timings, outcomes, answers=answers)


def _half_width(arrays: list[dict], level: float) -> float | None:
    rows = [a["verdict"] for a in arrays if a["verdict"] is not None]
    if len(rows) < 2:
        return None
    est = win_rate_ci(np.round(np.array(rows, dtype=float), 4), level)
    return (est.high - est.low) / 2


def _auto_seeds(suite, artifacts, session, seeds, beta, auto: AdaptiveSeeds, progress: bool):
    if len(seeds) < auto.cap:
        raise ValueError(f"seeds auto needs {auto.cap} candidate seeds, got {len(seeds)}")
    state = _Seeds(suite, artifacts, session, beta, auto.cap * suite.config.train.steps, progress)
    per_seed: list[dict] = []
    arrays: list[dict] = []
    why = f"cap of {auto.cap} seeds reached"
    try:
        for seed in seeds[:auto.cap]:
            metrics, seed_arrays = _one_seed(state, seed)
            per_seed.append(metrics)
            arrays.append(seed_arrays)
            half = _half_width(arrays, suite.config.eval.ci_level)
            if len(per_seed) >= auto.start and half is not None and half <= auto.target:
                why = f"CI half-width {half:.4f} <= target {auto.target:g} after {len(per_seed)} seeds"
                break
    finally:
        state.close()
    return per_seed, arrays, {"id": state.judge.id, "hash": state.judge.hash}, state.timings, why


def _one_seed(state: _Seeds, seed: int) -> tuple[dict, dict]:
    trajectory, crossings = state.trajectory(seed)
    return seed_metrics(seed, trajectory, crossings, state.cfg.eval)


def train_seeds(suite, artifacts, session, seeds: list[int], beta: float, *, progress: bool = True,
                in_processes=None):
    """The matched-KL protocol's per-seed part: (per_seed metrics, per-prompt arrays, judge_info, timings).

    ``in_processes(suite, seeds, beta, bar)``: trains the seeds in worker processes, each with its own
    session (harness.suites.tiny.workers, chosen by ``TinySuite.run_seeds`` for ``RunPlan.parallel``); the
    numbers are the same as sequentially."""
    if in_processes is not None and len(seeds) > 1:
        bar = _Progress(len(seeds) * suite.config.train.steps, progress)
        try:
            per_seed, arrays, judge_info, timings = in_processes(suite, seeds, beta, bar)
        finally:
            bar.close()
        return per_seed, arrays, judge_info, timings
    state = _Seeds(suite, artifacts, session, beta, len(seeds) * suite.config.train.steps, progress)
    per_seed, arrays = [], []
    try:
        for seed in seeds:
            metrics, seed_arrays = _one_seed(state, seed)
            per_seed.append(metrics)
            arrays.append(seed_arrays)
    finally:
        state.close()
    return per_seed, arrays, {"id": state.judge.id, "hash": state.judge.hash}, state.timings


def seed_job(suite, artifacts, session, seed: int, beta: float) -> dict:
    """One seed in a job container: its metrics and per-prompt arrays (JSON-ready; None: not measured)."""
    per_seed, arrays, judge, timings = train_seeds(suite, artifacts, session, [seed], beta, progress=False)
    lists = [{k: None if v is None else [float(x) for x in v] for k, v in a.items()} for a in arrays]
    return {"per_seed": per_seed, "judge": judge, "timings": timings, "arrays": lists}


def pool_seed_jobs(suite, outputs: list[dict], seeds: list[int], prompts: list[str],
                   references: list[list[str]] | None = None) -> SuiteResult:
    """The seeds' ``seed_job`` outputs as one result, with the outcome tables over ``prompts`` (the
    evaluation prompts in table order): the numbers one process running all the seeds gives (JSON
    floats round-trip exactly). Raises ValueError for an output of another seed, judge or prompt count."""
    per_seed = [o["per_seed"][0] for o in outputs]
    arrays = [{k: None if v is None else np.asarray(v, dtype=float) for k, v in o["arrays"][0].items()}
              for o in outputs]
    claimed = [s["seed"] for s in per_seed]
    if claimed != list(seeds):
        raise ValueError(f"the jobs report seeds {claimed[:8]}, not the seeds asked for {list(seeds)[:8]}")
    if any(o["judge"]["id"] != suite.config.judge for o in outputs):
        raise ValueError(f"a job reports another judge than the suite's ({suite.config.judge})")
    if any(v is not None and (v.ndim != 1 or len(v) != len(prompts)) for a in arrays for v in a.values()):
        raise ValueError(f"a job's per-prompt arrays do not have one value per evaluation prompt ({len(prompts)})")
    timings: dict[str, float] = {}
    for o in outputs:
        for k, v in o.get("timings", {}).items():
            timings[k] = timings.get(k, 0.0) + v
    metrics = aggregate(per_seed, arrays, suite.config.eval, prompts)
    outcomes = metrics.pop("outcomes")
    try:
        answers = answers_block(per_seed, prompts, references, outputs[0]["judge"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"a job's answers are malformed: {e}") from None
    return SuiteResult(per_seed, metrics, outputs[0]["judge"], timings, outcomes, answers=answers)
