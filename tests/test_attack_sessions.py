"""Attacks by a loss file on what is checked, run and timed (issue 29 items 4, 7, 8, 9): one test per class.
The threat table is at the top of harness/sandbox/__init__.py; the attack files are in
tests/sandbox_attacks/.

Fast tier: the in-process backend (trusted test files, a fresh execution of the file per session) on
a micro-sized tiny suite (seconds). Jail tier: the same classes through the real jail, where a
session is a worker process and a limit kills it.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.bench import BenchUsageError, run_bench
from harness.leaderboard.verify import VerificationError, verify_integrity
from harness.lossfile import LossFileError, read_loss
from harness.paths import builtin_losses_dir
from harness.sandbox import SessionSpec, open_session
from harness.sandbox.limits import TimeBudget
from harness.sandbox.seeds import SeedSessions
from harness.session import LossCallError

ATTACKS = Path(__file__).parent / "sandbox_attacks"
MICRO = {
    "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
    "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2,
    "eval.resamples": 100,
}  # fmt: skip
IN_PROCESS = {"backend": "none", "trust": True}  # the test's own attack files, run in this process


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_HOME", str(tmp_path_factory.mktemp("harness-home")))
    yield
    mp.undo()


def attack(tmp_path: Path, name: str, **values) -> Path:
    source = (ATTACKS / f"{name}.py").read_text()
    for key, value in values.items():
        source = source.replace(f"@{key}@", str(value))
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


def bench(path, seeds=1, **kw):
    return run_bench(path, seeds=seeds, progress=False, overrides=MICRO, jobs=1, **{**IN_PROCESS, **kw})


def numbers(record: dict) -> list[dict]:
    """Per seed, what training and evaluation measured (timings left out)."""
    drop = ("seconds", "timings", "loss_seconds")
    return [{k: v for k, v in s.items() if k not in drop} for s in record["per_seed"]]


# ------------------------------------------------------- class 4: one text shown, another run

def test_a_utf7_loss_that_shows_zero_and_runs_dpo_is_refused_everywhere(tmp_path):
    """Pure ASCII: a zero loss as UTF-8, DPO as Python decodes its coding line. Refused as a file (check,
    bench, the sandbox) and as a record's source (a board, a re-run)."""
    path = ATTACKS / "utf7_comment.py"
    data = path.read_bytes()
    assert data.isascii() and "return rho * 0.0" in data.decode("utf-8")
    assert "    return -F.logsigmoid(beta * rho)" in data.decode("utf-7").splitlines()  # the hidden line
    with pytest.raises(LossFileError, match="declares the encoding 'utf-7'"):
        read_loss(path)
    with pytest.raises(BenchUsageError, match="utf-7"):
        run_bench(path, seeds=1, progress=False, overrides=MICRO, **IN_PROCESS)
    with pytest.raises(LossCallError, match="utf-7") as info:
        open_session(path, **IN_PROCESS)
    assert info.value.status == "invalid"
    from test_leaderboard_records import make_record

    record = make_record("utf7", verified=None)
    record["loss"]["source"] = data.decode("utf-8")
    record["loss"]["sha256"] = __import__("hashlib").sha256(data).hexdigest()
    with pytest.raises(VerificationError, match="utf-7"):
        verify_integrity(record, "tiny")


# ------------------------------------------------ class 9: state from the check or a seed

def test_state_kept_from_the_check_or_an_earlier_seed_never_reaches_training(home, tmp_path):
    """The loss turns into reversed DPO after the check's one-example batch, or after one seed's calls.
    With a fresh session for the check and for each seed, both seeds train exactly as DPO does."""
    state = bench(attack(tmp_path, "check_state", AFTER_CALLS=MICRO["train.steps"]), seeds=2)
    dpo = bench(builtin_losses_dir() / "dpo.py", seeds=2)
    assert state["status"] == dpo["status"] == "ok", state["error"]
    assert numbers(state) == numbers(dpo)
    assert state["sandbox"]["time_budget"]["fresh_session_per_seed"] is True


def test_seed_sessions_open_a_new_session_per_seed(tmp_path):
    import torch

    from harness.check_probes import behaviour_inputs
    from harness.lossfile import read_loss as read
    from harness.sandbox.bridge import renew

    loss = read(attack(tmp_path, "check_state", AFTER_CALLS=1))
    sessions = SeedSessions(SessionSpec(loss, "none", trust=True))
    x = behaviour_inputs(4, torch.float32, "realistic", 5.0, 0)
    first = sessions.call(x, 0.1).losses
    second = sessions.call(x, 0.1).losses  # the same session: past AFTER_CALLS, reversed
    renew(sessions)
    third = sessions.call(x, 0.1).losses  # a fresh session: DPO again
    sessions.close()
    assert torch.equal(first, third) and not torch.equal(first, second) and sessions.sessions_opened == 2


# ------------------------------------------------------------------------------ class 7: time

def test_a_loss_slow_only_in_training_ends_as_timeout_with_its_record(home, tmp_path):
    """Per call: relative to the check's fastest call, with a floor (0.3 s here; 2 s by default)."""
    path = attack(tmp_path, "slow_in_training", TRAIN_BATCH=MICRO["train.batch_size"], SLEEP=0.8)
    t = time.perf_counter()
    record = bench(path, time_budget=TimeBudget(call_floor_s=0.3))
    assert record["status"] == "timeout", record["error"]
    assert "per-call limit of 0.3 s" in record["error"] and "check's fastest call took" in record["error"]
    assert record["sandbox"]["time_budget"]["call_limit_s"] == pytest.approx(0.3)
    assert time.perf_counter() - t < 60


def test_a_seeds_summed_loss_time_has_a_budget(home, tmp_path):
    """Each call under the per-call limit, their sum over the seed's budget (0.5 s here; 60 s by default)."""
    path = attack(tmp_path, "slow_in_training", TRAIN_BATCH=MICRO["train.batch_size"], SLEEP=0.2)
    record = bench(path, time_budget=TimeBudget(call_floor_s=5.0, seed_loss_floor_s=0.5))
    assert record["status"] == "timeout", record["error"]
    assert "more than its budget of 0.5 s" in record["error"]


def test_the_evaluations_deadline_ends_training_as_timeout(home, tmp_path):
    record = bench(builtin_losses_dir() / "dpo.py", deadline=time.time())  # past before the first seed
    assert record["status"] == "timeout" and "deadline passed" in record["error"], record["error"]


def test_discovery_gives_every_candidate_a_deadline(tmp_path, monkeypatch):
    """BenchEvaluator hands its deadline to the bench; a worker still busy past it plus the grace is
    interrupted (timeout), not left running."""
    import harness.discovery.candidate_job as evaluators
    from harness.discovery.config import EvalSettings
    from harness.discovery.evaluator import BenchEvaluator

    seen = {}

    def bench_and_store(path, **kw):
        seen.update(kw)
        raise RuntimeError("stop here")

    monkeypatch.setattr("harness.bench.bench_and_store", bench_and_store)
    settings = EvalSettings(candidate_timeout_s=123.0)
    with pytest.raises(RuntimeError):
        BenchEvaluator(settings, tmp_path).evaluate(tmp_path / "c.py")
    assert seen["deadline"] == pytest.approx(time.time() + 123.0, abs=5)
    monkeypatch.setattr(evaluators, "DEADLINE_GRACE_S", 0.0)
    slow = EvalSettings(evaluator="fake", fake_seconds=30.0, candidate_timeout_s=0.5)
    (tmp_path / "c.py").write_text("def loss(policy_chosen_logps):\n    return policy_chosen_logps\n")
    t = time.perf_counter()
    data = evaluators.run_job(slow, str(tmp_path / "c.py"), None, str(tmp_path))
    assert data["status"] == "timeout" and "deadline" in data["error"] and time.perf_counter() - t < 10


def test_time_budget_settings_are_checked():
    with pytest.raises(ValueError, match="call_floor_s"):
        TimeBudget(call_floor_s=0)
    b = TimeBudget()
    assert b.call_limit_s(0.001) == 2.0 and b.call_limit_s(0.05) == 5.0 and b.call_limit_s(None) is None
    assert b.seed_loss_budget_s(0.001, 128) == 60.0


# ------------------------------------------------------------------ the jail tier: real workers

def _jail():
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")


@pytest.mark.jail
def test_in_the_jail_a_slow_training_call_is_killed_at_its_limit(home, tmp_path):
    _jail()
    path = attack(tmp_path, "slow_in_training", TRAIN_BATCH=MICRO["train.batch_size"], SLEEP=60)
    t = time.perf_counter()
    record = run_bench(path, seeds=1, progress=False, overrides=MICRO, jobs=1, backend="jail",
                       time_budget=TimeBudget(call_floor_s=1.0))
    assert record["status"] == "timeout" and "wall-clock limit of 1 s" in record["error"], record["error"]
    assert time.perf_counter() - t < 60  # killed at 1 s, not after the loss's 60 s


@pytest.mark.jail
def test_in_the_jail_no_state_crosses_from_the_check_or_between_seeds(home, tmp_path):
    _jail()
    state = run_bench(attack(tmp_path, "check_state", AFTER_CALLS=MICRO["train.steps"]), seeds=2, progress=False,
                      overrides=MICRO, jobs=1, backend="jail")
    dpo = run_bench(builtin_losses_dir() / "dpo.py", seeds=2, progress=False, overrides=MICRO, jobs=1, backend="jail")
    assert state["status"] == dpo["status"] == "ok", state["error"]
    assert numbers(state) == numbers(dpo)


def _cpu_folder(session):
    """The session's cpu cgroup folder (the jail's first process joined it)."""
    from harness.sandbox import cgroups

    lines = Path(f"/proc/{session.proc.pid}/cgroup").read_text().splitlines()
    mine = {c: p for _, cs, p in (ln.split(":", 2) for ln in lines) for c in cs.split(",")}
    return cgroups._root("cpu") / mine.get("cpu", mine.get("", "")).lstrip("/")


def _quota(folder: Path) -> int:
    return int((folder / ("cpu.max" if (folder / "cpu.max").exists() else "cpu.cfs_quota_us")).read_text().split()[0])


@pytest.mark.jail
def test_a_loss_cannot_take_more_cores_than_its_share(sandbox_backend, tmp_path):
    """8 torch threads kept busy for 2 s of wall clock. The default share is SandboxLimits.threads = 1 core
    (the jail's cgroup carries that quota); measured with a share of a quarter core, which the attack
    exceeds on any machine however busy: the worker's CPU time over wall time stays within the share and
    the kernel's own account (nr_throttled) shows the quota holding it back."""
    import torch

    from harness.check_probes import behaviour_inputs
    from harness.sandbox import cgroups

    backend, limits = sandbox_backend
    limits = replace(limits, threads=1, call_timeout_s=30.0)
    if backend == "jail" and not cgroups.cpu_guard():
        with pytest.warns(UserWarning, match="CPU share is not capped"):  # what is NOT enforced, said aloud
            open_session(ATTACKS / "cpu_threads.py", backend="jail", limits=limits).close()
        return
    if backend == "jail":
        with open_session(ATTACKS / "cpu_threads.py", backend="jail", limits=limits) as session:
            assert _quota(_cpu_folder(session)) == cgroups.CPU_PERIOD_US  # 1 core by default
    quarter = replace(limits, cpu_cores=0.25)
    with open_session(ATTACKS / "cpu_threads.py", backend=backend, limits=quarter) as session:
        folder = _cpu_folder(session) if backend == "jail" else None
        with pytest.raises(LossCallError, match="cores used") as info:
            session.call(behaviour_inputs(4, torch.float32, "realistic", 5.0, 0), 0.1)
        if folder is not None:
            assert _quota(folder) == cgroups.CPU_PERIOD_US // 4
            stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
            assert int(stat["nr_throttled"]) > 0, stat
    cores = float(re.findall(r"cores used: ([0-9.]+)", info.value.message)[-1])
    assert cores <= 0.35, info.value.message
