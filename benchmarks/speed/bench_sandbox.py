"""Sandbox benchmark: jail start-up, bridge round trip per step, and training overhead vs in-process.

    .venv/bin/python benchmarks/speed/bench_sandbox.py [--backend jail] [--batch 64] [--calls 500]

1. start to first answer: ``open_session`` (bubblewrap, python, torch import, loss load, seccomp)
   until the first call's reply (target <= 1.5 s);
2. bridge round trip per training step at B = --batch: ``bridged_mean_loss`` forward + backward
   through the jailed worker, against the same loss called in-process under autograd (target <= 1 ms);
3. overhead on a short training run: the tiny suite's policy (Llama, hidden 128, 2 layers) trained
   for --steps steps on synthetic token batches of the tiny suite's shape, once with the loss
   in-process and once jailed (target <= 3 % of wall time). Session start-up is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from tabulate import tabulate

from harness.lossfile import load_loss
from harness.paths import builtin_losses_dir
from harness.sandbox import SandboxLimits, open_session
from harness.sandbox.bridge import bridged_mean_loss

NAMES = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")


def _inputs(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {n: -torch.rand(batch, generator=g) * 40 for n in NAMES}
    out["chosen_lengths"] = out["rejected_lengths"] = torch.full((batch,), 20, dtype=torch.int64)
    return out


def bench_start(path: Path, backend: str, limits: SandboxLimits, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with open_session(path, backend=backend, limits=limits) as session:
            session.call(_inputs(8), beta=0.1)
            times.append(time.perf_counter() - t0)
    return times


def _interleaved(steps: dict, calls: int, warmup: int = 20) -> dict[str, list[float]]:
    """Per-call times of each step function, alternating them so that machine load hits all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps.items())
    for i in range(calls):
        for name, step in order if i % 2 == 0 else order[::-1]:  # no step always runs first
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return times


def bench_round_trip(path: Path, backend: str, limits: SandboxLimits, batch: int, calls: int):
    loss = load_loss(path)
    data = _inputs(batch)

    def leaves():
        return {k: v.clone().requires_grad_(k in NAMES[:2]) for k, v in data.items()}

    def direct():
        x = leaves()
        loss(**{k: v for k, v in x.items() if k in loss.params}, beta=0.1).float().mean().backward()

    with open_session(path, backend=backend, limits=limits) as session:

        def bridged():
            bridged_mean_loss(session, leaves(), 0.1)[0].backward()

        times = _interleaved({"direct": direct, "bridged": bridged}, calls)
    return times["direct"], times["bridged"]


class _Trainer:
    """The tiny suite's policy on synthetic token batches of the tiny suite's shape."""

    def __init__(self, loss_fn, batch: int, seq: int = 48, prompt: int = 16):
        from harness.suites.tiny.model import ModelConfig, build_model

        self.policy = build_model(ModelConfig(), vocab_size=512, pad_id=0, eos_id=1, seed=0)
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=2e-4)
        self.loss_fn, self.batch, self.seq, self.prompt = loss_fn, batch, seq, prompt
        self.gen = torch.Generator().manual_seed(0)
        self.fixed = _inputs(batch)

    def step(self) -> None:
        b = self.batch
        ids = torch.randint(2, 512, (2 * b, self.seq), generator=self.gen)
        logits = self.policy(input_ids=ids).logits[:, :-1]
        logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        logp = logp[:, self.prompt - 1 :].sum(-1)
        x = {**self.fixed, "policy_chosen_logps": logp[:b], "policy_rejected_logps": logp[b:]}
        self.opt.zero_grad()
        self.loss_fn(x).backward()
        self.opt.step()


def bench_training(path: Path, backend: str, limits: SandboxLimits, steps: int, batch: int, threads: int):
    torch.set_num_threads(threads)
    loss = load_loss(path)
    direct = _Trainer(lambda x: loss(**{k: x[k] for k in loss.params if k in x}, beta=0.1).mean(), batch)
    with open_session(path, backend=backend, limits=limits) as session:
        jailed = _Trainer(lambda x: bridged_mean_loss(session, x, 0.1)[0], batch)
        times = _interleaved({"direct": direct.step, "jailed": jailed.step}, steps, warmup=2)
    return times["direct"], times["jailed"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", type=Path, default=builtin_losses_dir() / "dpo.py")
    ap.add_argument("--backend", default="jail")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the trusted trainer")
    ap.add_argument("--docker-image", default="")
    ap.add_argument("--docker-python", default="python3")
    args = ap.parse_args()
    limits = SandboxLimits(
        docker_image=args.docker_image or SandboxLimits.docker_image, docker_python=args.docker_python
    )
    ms = 1000.0

    # a loss on (B,) tensors is single-threaded work; idle OpenMP threads spinning in the trainer
    # would only steal the CPU the worker needs on a small machine
    torch.set_num_threads(1)
    starts = bench_start(args.loss, args.backend, limits, args.starts)
    direct, jailed = bench_round_trip(args.loss, args.backend, limits, args.batch, args.calls)
    steps_direct, steps_jailed = bench_training(
        args.loss, args.backend, limits, args.steps, args.batch, args.threads
    )
    t_direct, t_jailed = sum(steps_direct), sum(steps_jailed)
    round_trip = statistics.median(jailed) - statistics.median(direct)
    # the wall-clock difference of two short runs is at the mercy of machine load; the bridge's
    # measured cost over the median step time is the steadier estimate of the same overhead
    share = round_trip / statistics.median(steps_direct) * 100
    rows = [
        [
            f"start to first answer (median of {len(starts)})",
            f"{statistics.median(starts):.3f} s",
            f"min {min(starts):.3f} s",
            "<= 1.5 s",
        ],
        [
            f"step, loss in-process (B={args.batch}, median)",
            f"{statistics.median(direct) * ms:.3f} ms",
            f"p90 {sorted(direct)[int(0.9 * len(direct))] * ms:.3f} ms",
            "",
        ],
        [
            f"step through the bridge (B={args.batch}, median)",
            f"{statistics.median(jailed) * ms:.3f} ms",
            f"p90 {sorted(jailed)[int(0.9 * len(jailed))] * ms:.3f} ms",
            "",
        ],
        [
            "bridge round trip (difference of medians)",
            f"{round_trip * ms:.3f} ms",
            "",
            "<= 1 ms",
        ],
        [f"training, {args.steps} steps, loss in-process", f"{t_direct:.2f} s", "", ""],
        [f"training, {args.steps} steps, loss {args.backend}", f"{t_jailed:.2f} s", "", ""],
        [
            "training overhead (wall clock)",
            f"{(t_jailed - t_direct) / t_direct * 100:+.2f} %",
            "start-up excluded",
            "<= 3 %",
        ],
        ["training overhead (round trip / median step)", f"{share:.3f} %", "", "<= 3 %"],
    ]
    load = os.getloadavg()[0]
    print(
        f"backend={args.backend} loss={args.loss.name} torch={torch.__version__} cores={os.cpu_count()} load={load:.1f}"
    )
    print(tabulate(rows, headers=["measure", "value", "spread", "target"]))


if __name__ == "__main__":
    main()
