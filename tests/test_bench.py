"""run_bench and `harness bench` on a micro-sized tiny suite (seconds): record schema, failing
losses, usage errors, determinism. The science on the full-size suite is in test_tiny_science.py."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.bench import BenchUsageError, bench_and_store, run_bench
from harness.cli import main
from harness.records import validate_record

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures_bench"
DPO = ROOT / "losses" / "dpo.py"
MICRO = {
    "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
    "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2,
    "eval.resamples": 100,
}
MICRO_ARGS = [a for k, v in MICRO.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("harness-home")
    mp.setenv("HARNESS_HOME", str(path))
    yield path
    mp.undo()


def _bench(loss, tmp_path, **kw):
    return run_bench(loss, seeds=kw.pop("seeds", 1), progress=False, overrides=MICRO, **kw)


def test_record_schema_and_file(home, tmp_path):
    run = bench_and_store(DPO, seeds=2, out_dir=tmp_path, progress=False, overrides=MICRO)
    record = run.record
    assert record["status"] == "ok", record["error"]
    validate_record(record)
    assert "path" not in record and run.path.parent == tmp_path and run.run_id is not None
    on_disk = json.loads(run.path.read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert on_disk["loss"]["sha256"] == record["loss"]["sha256"]
    m = record["metrics"]
    for key in ("win_rate", "win_rate_ci", "reward", "kl", "censored", "win_rate_kl1", "win_rate_end", "fluency",
                "distinct_2", "mean_length", "verdict"):
        assert key in m, key
    assert record["seeds"] == [0, 1] and len(record["per_seed"]) == 2
    assert "answers" not in record["per_seed"][0] and len(record["answers"]["seeds"]) == 2
    trajectory = record["per_seed"][0]["trajectory"]
    assert [c["step"] for c in trajectory] == [0, 2, 4]
    assert trajectory[0]["kl"] == pytest.approx(0.0, abs=1e-3)  # step 0 is the reference itself
    assert record["suite"]["config"]["train"]["steps"] == 4  # overrides land in the saved config
    assert record["judge"]["id"] == "gold-tiny" and record["judge"]["hash"]
    assert record["sandbox"]["backend"] == "jail"
    assert {"suite", "train", "evaluate", "total"} <= set(record["timings"])


@pytest.mark.slow
def test_deterministic_for_a_fixed_seed(home, tmp_path):
    a, b = _bench(DPO, tmp_path), _bench(DPO, tmp_path)
    assert a["per_seed"] == b["per_seed"]
    assert a["metrics"] == b["metrics"]


@pytest.mark.parametrize("name, needle", [("raises.py", "always fails"), ("nan.py", "non-finite")])
def test_failing_loss_gives_status_and_exit_1(home, tmp_path, name, needle):
    record = _bench(FIXTURES / name, tmp_path)
    assert record["status"] != "ok" and needle in record["error"]
    assert record["metrics"] == {} and record["per_seed"] == []
    validate_record(record)
    result = CliRunner().invoke(main, ["bench", "--loss", str(FIXTURES / name), "--seeds", "1", "--json",
                                       "--out", str(tmp_path), *MICRO_ARGS])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == record["status"]


def test_a_loss_that_fails_the_check_is_invalid_with_its_errors_and_never_trained(home, tmp_path):
    run = bench_and_store(FIXTURES / "inf_in_bf16.py", seeds=1, out_dir=tmp_path, progress=False, overrides=MICRO)
    record = run.record
    assert record["status"] == "invalid" and "harness check" in record["error"] and "bfloat16" in record["error"]
    assert record["check"]["valid"] is False and record["check"]["errors"]
    assert record["metrics"] == {} and record["per_seed"] == [] and "outcomes" not in record
    assert "train" not in record["timings"]  # the check ran first, in the same session; nothing was trained
    assert run.run_id is not None  # failures are kept in the run store too


def test_a_symlink_to_the_environment_is_refused_and_nothing_is_recorded(home, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_SECRET", "sk-do-not-leak-4242")
    link = tmp_path / "my_loss.py"
    link.symlink_to("/proc/self/environ")
    out = tmp_path / "records"
    result = CliRunner().invoke(main, ["bench", "--loss", str(link), "--seeds", "1", "--out", str(out), *MICRO_ARGS])
    assert result.exit_code == 2 and "symbolic link" in result.output
    assert "sk-do-not-leak" not in result.output and not out.exists()
    store = home / "runs.sqlite"
    assert not store.exists() or b"sk-do-not-leak" not in store.read_bytes()
    with pytest.raises(BenchUsageError, match="symbolic link"):
        run_bench(link, progress=False)


def test_cli_table_and_json(home, tmp_path):
    args = ["bench", "--loss", str(DPO), "--seeds", "1", "--out", str(tmp_path), *MICRO_ARGS]
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "win rate @ KL 2" in table.stdout and "verdict" in table.stdout
    assert "one seed: its interval covers prompt and sampling noise only" in table.stderr  # --seeds 1
    assert "FutureWarning" not in table.output and "Loading weights" not in table.output  # a clean terminal
    as_json = CliRunner().invoke(main, [*args, "--json", "--answers", str(tmp_path / "ae")])
    assert as_json.exit_code == 0
    record = validate_record(json.loads(as_json.stdout))  # stdout is exactly the record
    # the answers behind the numbers, kept in the record and written in AlpacaEval's layout
    block = record["answers"]
    assert block["judge"] == {"id": "gold-tiny", "kind": "code"} and len(block["prompts"]) == MICRO["data.eval_prompts"]
    assert block["point"].startswith("end of training (step 4)")
    policy = json.loads(next((tmp_path / "ae").glob("dpo-*/model_outputs.json")).read_text())
    assert [p["output"] for p in policy] == block["seeds"][0]["outputs"]
    assert [p["instruction"] for p in policy] == block["prompts"]
    assert (tmp_path / "ae" / "reference" / "model_outputs.json").is_file()


@pytest.mark.parametrize("kwargs", [{"suite": "nope"}, {"seeds": 0}, {"beta": -1.0},
                                    {"overrides": {"train.nope": 1}}, {"backend": "nope"}])
def test_usage_errors_raise(tmp_path, kwargs):
    with pytest.raises(BenchUsageError):
        run_bench(DPO, progress=False, **kwargs)


@pytest.mark.parametrize("kwargs, needle", [({"suite": "imdb"}, "no judge"),
                                            ({"suite": "smol", "lr_grid": "default"}, "thorough mode needs")])
def test_unsupported_suite_requests_are_usage_errors(tmp_path, kwargs, needle):
    with pytest.raises(BenchUsageError, match=needle):
        run_bench(DPO, progress=False, **kwargs)


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(BenchUsageError):
        run_bench(tmp_path / "missing.py", progress=False)


@pytest.mark.parametrize("args", [["--suite", "nope"], ["--seeds", "0"], ["--set", "train.nope=1"],
                                  ["--set", "novalue"]])
def test_cli_usage_errors_exit_2(tmp_path, args):
    result = CliRunner().invoke(main, ["bench", "--loss", str(DPO), "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output


def test_cli_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["bench", "--loss", str(tmp_path / "missing.py")])
    assert result.exit_code == 2


def test_suites_command_lists_tiny(home):
    result = CliRunner().invoke(main, ["suites"])
    assert result.exit_code == 0 and "tiny" in result.stdout


def test_step0_checkpoint_is_cached_per_suite_and_reused(home, tmp_path):
    """Step 0 (policy == reference) is evaluated once per suite and seed; a cached or a corrupted
    file gives the same record as a fresh evaluation (the corrupted one is recomputed)."""
    import numpy as np

    from harness.suites import SUITES

    step0 = SUITES.get("tiny").with_overrides(MICRO).cache_folder() / "step0"
    for f in step0.glob("*.npz"):
        f.unlink()
    fresh = _bench(DPO, tmp_path / "a")
    files = sorted(step0.glob("*.npz"))
    assert len(files) == 1, f"one seed -> one step-0 file, found {files}"
    cached = _bench(DPO, tmp_path / "b")
    assert cached["per_seed"] == fresh["per_seed"]
    files[0].write_bytes(b"not an npz")
    repaired = _bench(DPO, tmp_path / "c")
    assert repaired["per_seed"] == fresh["per_seed"]
    with np.load(files[0]) as f:  # rewritten as a valid file
        assert f["win"].shape == (MICRO["data.eval_prompts"],)


def test_allocator_tuning_applies_on_glibc():
    import platform

    from harness.runtime import tune_allocator

    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"mallopt is glibc's; this libc is {platform.libc_ver()!r}")
    assert tune_allocator() is True


def test_thorough_mode_pools_the_lr_grid_per_seed(home, tmp_path):
    """Per seed, the pooled verdict is the best learning rate at the KL budget (among those that reach it),
    every learning rate's own result is reported, and boards refuse the record."""
    from harness.leaderboard.verify import VerificationError, verify_integrity

    record = _bench(DPO, tmp_path, seeds=2, lr_grid=[1e-4, 1e-3])
    assert record["status"] == "ok", record["error"]
    grid = record["thorough"]
    assert grid["learning_rates"] == [1e-4, 1e-3]
    assert [r["learning_rate"] for r in grid["per_learning_rate"]] == [1e-4, 1e-3]
    for i, seed in enumerate(record["per_seed"]):
        options = {r["learning_rate"]: r["per_seed_win_rate"][i] for r in grid["per_learning_rate"]}
        if seed["reached_budget_at"]:
            assert seed["learning_rate"] in seed["reached_budget_at"]
            assert seed["win_rate"] == max(options[lr] for lr in seed["reached_budget_at"])
        else:  # no learning rate measured this seed at the budget: no value, never a stand-in
            assert seed["win_rate"] is None and seed["status"] in ("censored", "unresolved")
        assert "answers" not in seed  # moved into the record's answers block
    assert [s["seed"] for s in record["answers"]["seeds"]] == [0, 1]
    with pytest.raises(VerificationError, match="thorough"):
        verify_integrity(record, "tiny")


@pytest.mark.parametrize("grid, needle", [([1e-4], "two distinct"), ([1e-4, -1.0], "positive")])
def test_bad_lr_grid_is_a_usage_error(tmp_path, grid, needle):
    with pytest.raises(BenchUsageError, match=needle):
        run_bench(DPO, progress=False, lr_grid=grid)


def test_cli_thorough_table_lists_each_learning_rate(home, tmp_path):
    args = ["bench", "--loss", str(DPO), "--seeds", "1", "--lr-grid", "1e-4,1e-3", "--out", str(tmp_path),
            *MICRO_ARGS]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "best lr per seed" in result.output and "learning rate" in result.output
    assert "0.0001" in result.output and "0.001" in result.output
    bad = CliRunner().invoke(main, ["bench", "--loss", str(DPO), "--lr-grid", "fast,slow"])
    assert bad.exit_code == 2 and "comma-separated" in bad.output


class _NoDockerOptions:
    """A ContainerOptions double: a runner that records the jobs it was asked to run (none should be
    for a loss that fails the check) and ends each with a harness-side crash, and a CPU pool."""

    parallel = 1

    def __init__(self, reply=None):
        self.jobs = []
        self.reply = reply  # a result.json the "container" claims (its content is untrusted)

    def runner(self, data, models):
        from harness.executors.container_runner import JobRun

        options = self

        class Runner:
            identity = {"id": "sha256:test"}

            def run(self, spec, data, folder, gpus=None):
                options.jobs.append(spec)
                if options.reply is not None:
                    return JobRun("ok", None, 0, 0.0, result=options.reply)
                return JobRun("crash", "the test double runs no container", 1, 0.0)

        return Runner()

    def pool(self):
        from harness.executors.container_runner import GpuPool

        return GpuPool([], 1)


def test_the_container_bench_runs_the_behaviour_check_first(home):
    """--executor docker: the same check as a local bench, in the sandbox, before any container."""
    from harness.executors.container_bench import run_container_bench

    options = _NoDockerOptions()
    record = run_container_bench(FIXTURES / "inf_in_bf16.py", seeds=1, progress=False, overrides=MICRO, options=options)
    assert options.jobs == []  # never trained
    assert record["status"] == "invalid" and "harness check" in record["error"] and "bfloat16" in record["error"]
    assert record["check"]["valid"] is False and record["check"]["errors"] and record["metrics"] == {}
    validate_record(record)
    record = run_container_bench(DPO, seeds=1, progress=False, overrides=MICRO, options=options)
    assert len(options.jobs) == 1 and record["check"]["valid"] is True  # a passing loss goes on to its job
    assert record["status"] == "crash" and "test double" in record["error"]


def test_a_malformed_job_result_is_a_harness_fault_not_a_crash(home):
    """A container's result.json is untrusted: one without its suite's seed-job shape is status error."""
    from harness.executors.container_bench import run_container_bench
    from harness.suites import get_suite

    suite = {"config_hash": get_suite("tiny").with_overrides(MICRO).config_hash()}  # the right config
    for reply in ({"status": "ok", "suite": suite, "candidate": {"per_seed": "forged"}},
                  {"status": "ok", "suite": suite, "candidate": 7}):
        record = run_container_bench(DPO, seeds=1, progress=False, overrides=MICRO, options=_NoDockerOptions(reply))
        assert record["status"] == "error" and "malformed" in record["error"] and record["metrics"] == {}
        validate_record(record)



def test_beta_sweep_gives_one_frontier_point_per_beta(home, tmp_path):
    """--beta-sweep: one record per beta (the suite's beta in its config, so its own config hash), then
    the frontier points; a bad list and a suite without the reward-KL trajectory are refused."""
    out = tmp_path / "sweep"
    r = CliRunner().invoke(main, ["bench", "--loss", str(DPO), "--seeds", "1", "--beta-sweep", "0.05,0.5", "--json",
                                  "--out", str(out), *MICRO_ARGS])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    points = report["frontier"]
    assert [p["beta"] for p in points] == [0.05, 0.5] and report["failed"] == []
    records = [json.loads(Path(p["record"]).read_text()) for p in points]
    assert [rec["suite"]["config"]["beta"] for rec in records] == [0.05, 0.5] == [rec["beta"] for rec in records]
    assert records[0]["suite"]["config_hash"] != records[1]["suite"]["config_hash"]
    for p, rec in zip(points, records, strict=True):
        assert p["kl_end"] == pytest.approx(rec["per_seed"][0]["kl"]) and p["seeds"] == 1
        assert p["win_rate_end_ci"][0] <= p["win_rate_end"] <= p["win_rate_end_ci"][1]
    for bad in ("0.1", "0.1,x", "0.1,0.1", "0,0.1"):
        r = CliRunner().invoke(main, ["bench", "--loss", str(DPO), "--beta-sweep", bad])
        assert r.exit_code == 2 and "--beta-sweep" in r.output
    r = CliRunner().invoke(main, ["bench", "--loss", str(DPO), "--suite", "smol", "--beta-sweep", "0.1,0.2"])
    assert r.exit_code == 2 and "own protocol" in r.output
