"""The bench-job container: spec checks, the hardened docker command, the entrypoint on a tiny job
(in a subprocess here, and inside a container built from a local base in the docker tier)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOSS = ROOT / "losses" / "dpo.py"
# A tiny-suite job small enough for a test (~1 min on 2 cores): few pairs, short SFT, 8 DPO steps.
TINY_OVERRIDES = {"data.train_prompts": 64, "data.eval_prompts": 16, "data.pairs": 128, "sft.steps": 40,
                  "sft.batch_size": 16, "train.steps": 8, "train.batch_size": 16, "train.checkpoint_every": 8,
                  "eval.sample.samples_per_prompt": 2,
                  "eval.kl_budgets": [0.002, 0.001]}  # budgets eight steps reach: a measured verdict


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"containers_{name}", ROOT / "containers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


job = _load("job")
launch = _load("launch")


def test_spec_errors_are_job_errors(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"suite": "tiny", "loss": "x.py", "output": "o", "gpu": 1}))
    with pytest.raises(job.JobError, match="unknown job spec key"):
        job.read_spec(bad)
    bad.write_text(json.dumps({"suite": "tiny"}))
    with pytest.raises(job.JobError, match="lacks"):
        job.read_spec(bad)
    bad.write_text(json.dumps({"suite": "nope", "loss": str(LOSS), "output": str(tmp_path / "o")}))
    assert job.main(["job.py", str(bad)]) == job.EXIT_JOB
    with pytest.raises(job.JobError, match="cannot read"):
        job.read_spec(tmp_path / "missing.json")


def test_docker_command_is_hardened_and_mounts_read_only(tmp_path):
    for p in ("spec.json", "loss.py"):
        (tmp_path / p).write_text("{}")
    args = launch.docker_run_args(image="img", spec=tmp_path / "spec.json", loss=tmp_path / "loss.py",
                                  out=tmp_path, models=tmp_path, data=tmp_path,
                                  limits=launch.JobLimits(gpus="device=0"))
    line = " ".join(args)
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges",
                 "--pids-limit", "--memory-swap", "--ulimit core=0", "--gpus device=0", "--shm-size",
                 "--pull never", f"--user {launch.JOB_UID}:{launch.JOB_UID}"):
        assert flag in line, flag
    assert "target=/models,readonly" in line and "target=/data,readonly" in line
    assert "target=/job/loss.py,readonly" in line and "target=/out " in line + " "
    assert not any("KEY" in a or "TOKEN" in a for a in args)  # no secrets pass in
    assert args[-2:] == ["img", "/job/spec.json"]
    assert "seccomp=" not in line  # a trusted job keeps docker's default profile
    profile = launch.write_jail_seccomp_profile(tmp_path)
    jail = " ".join(launch.docker_run_args(image="img", spec=tmp_path / "spec.json", loss=tmp_path / "loss.py",
                                           out=tmp_path, models=None, data=None, limits=launch.JobLimits(),
                                           jail_seccomp=profile))
    assert f"--security-opt seccomp={profile.resolve()}" in jail and "systempaths=unconfined" in jail
    assert "--cap-drop ALL" in jail and "--network none" in jail  # the rest of the hardening stays
    written = json.loads(profile.read_text())
    allowed = set(written["syscalls"][0]["names"])
    assert written["defaultAction"] == "SCMP_ACT_ERRNO"  # an allowlist
    assert not {"ptrace", "bpf", "keyctl", "setns", "kexec_load"} & allowed
    assert {"clone", "unshare", "mount", "pivot_root"} <= allowed  # what bubblewrap needs
    assert launch.container_spec({"suite": "s", "loss": "/host/l.py", "output": "/host/o"})["loss"] == "/job/loss.py"


def _tiny_spec(out: str, loss: str) -> dict:
    # The built-in DPO loss is trusted; an untrusted loss uses the jail (bubblewrap) in the GPU image.
    return {"suite": "tiny", "loss": loss, "output": out, "seed": 0, "overrides": TINY_OVERRIDES,
            "sandbox": "none", "trust": True, "device": "cpu"}


@pytest.mark.slow
def test_entrypoint_runs_a_tiny_job(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_tiny_spec(str(tmp_path / "out"), str(LOSS))))
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, str(ROOT / "containers" / "job.py"), str(spec)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == job.EXIT_OK, r.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "ok" and result["suite"]["name"] == "tiny"
    m = result["candidate"]["metrics"]
    assert m["win_rate_ci"][0] <= m["win_rate"] <= m["win_rate_ci"][1]


@pytest.mark.slow
def test_entrypoint_reports_a_broken_loss_as_a_candidate_failure(tmp_path):
    loss = tmp_path / "broken.py"
    loss.write_text("def loss(policy_chosen_logps, beta):\n    return undefined_name\n")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_tiny_spec(str(tmp_path / "out"), str(loss))))
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, str(ROOT / "containers" / "job.py"), str(spec)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == job.EXIT_CANDIDATE, r.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] != "ok" and result["error"]


# ---- docker tier: the CPU job image (containers/image.py, no registry), the tiny job inside a container ----

image = _load("image")


@pytest.fixture(scope="session")
def job_image(tmp_path_factory):
    import shutil

    from docker_daemon import _daemon_up, _docker, _source_hash, _start_dockerd, hidden_by_private_tmp

    if hidden_by_private_tmp():
        pytest.skip(hidden_by_private_tmp())
    if shutil.which("docker") is None:
        pytest.skip("docker tier: the docker CLI is not installed (scripts/setup_test_tiers.sh installs docker.io)")

    started = None
    if not _daemon_up():
        log = tmp_path_factory.mktemp("dockerd-job") / "dockerd.log"
        started = _start_dockerd(log)
        if started is None:
            pytest.skip(f"docker tier: dockerd is not running and could not be started: "
                        f"{log.read_text()[-500:] if log.exists() else '(not root, or no dockerd)'}")
    try:
        # the image mirrors this interpreter and checkout: another checkout's image must not match
        where = hashlib.sha256(f"{sys.prefix}|{ROOT}".encode()).hexdigest()[:8]
        tag = f"harness-job-cpu:test-{_source_hash(ROOT / 'harness')}{_source_hash(ROOT / 'containers')}{where}"
        if _docker("image", "inspect", tag, check=False).returncode != 0:
            stale = _docker("images", "--format", "{{.Repository}}:{{.Tag}}", "harness-job-cpu").stdout.decode()
            for old in stale.split():  # one test image per source revision would pile up otherwise
                if ":test-" in old:
                    _docker("rmi", old, check=False)
            image.build(tag)
        yield tag
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=60)


@pytest.mark.docker
@pytest.mark.slow
def test_tiny_job_runs_inside_the_hardened_container(job_image, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's non-root user writes here
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(launch.container_spec(_tiny_spec("/out", "/job/loss.py"))))
    for p in (tmp_path, spec):
        p.chmod(0o755 if p.is_dir() else 0o644)
    args = launch.docker_run_args(image=job_image, spec=spec, loss=LOSS, out=out, models=None, data=None,
                                  limits=launch.JobLimits(memory="8g", shm="1g", cpus=2, pids=1024))
    r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["suite"]["name"] == "tiny"
    assert result["provenance"]["hardware"]["cpus"] >= 1
    user = subprocess.run(["docker", "run", "--rm", "--entrypoint", sys.executable, job_image, "-c",
                           "import os; print(os.getuid())"], capture_output=True, text=True, timeout=120)
    assert user.stdout.strip() == str(launch.JOB_UID)  # not root


@pytest.mark.docker
@pytest.mark.slow
def test_untrusted_loss_runs_in_the_jail_inside_the_container(job_image, tmp_path):
    """The loss runs in the jail INSIDE the hardened job container (launch.py's jail profile): a good loss
    trains normally, and a loss that tries to fake a result in the output folder cannot even see it."""
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"docker tier: the jail cannot run on this host, so not in a container either: {reason}")
    attack = tmp_path / "fake_result.py"
    attack.write_text(
        "import json\n"
        "with open('/out/result.json', 'w') as f:  # the job's result file, seen from the trainer\n"
        "    json.dump({'status': 'ok', 'candidate': {'metrics': {'win_rate': 1.0}}}, f)\n"
        "def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):\n"
        "    import torch.nn.functional as F\n"
        "    return -F.logsigmoid(beta * ((policy_chosen_logps - reference_chosen_logps)\n"
        "                                 - (policy_rejected_logps - reference_rejected_logps)))\n")
    results = {}
    for name, loss in (("dpo", LOSS), ("attack", attack)):
        out = tmp_path / name
        out.mkdir()
        out.chmod(0o777)
        spec = tmp_path / f"{name}-spec.json"
        spec.write_text(json.dumps(launch.container_spec({**_tiny_spec("/out", "/job/loss.py"),
                                                          "sandbox": "jail", "trust": False})))
        for p in (tmp_path, spec, loss):
            p.chmod(0o755 if p.is_dir() else 0o644)
        profile = launch.write_jail_seccomp_profile(tmp_path)
        args = launch.docker_run_args(image=job_image, spec=spec, loss=loss, out=out, models=None, data=None,
                                      limits=launch.JobLimits(memory="8g", shm="1g", cpus=2, pids=1024),
                                      jail_seccomp=profile)
        r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        results[name] = (r, json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None)
    r, good = results["dpo"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert good["status"] == "ok" and good["spec"]["sandbox"] == "jail", good
    r, bad = results["attack"]
    assert r.returncode == job.EXIT_CANDIDATE, r.stderr[-3000:]
    assert bad is not None and bad["status"] != "ok" and "/out/result.json" in bad["error"], bad
