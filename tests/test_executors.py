"""Container executor pieces that need no docker: the seccomp allowlist, the labelled hardened command,
how a container's end maps to a status, GPU cards, orphan owners, jobs that carry code."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from harness.discovery.pools import _stage, job_for, keep_record, run_remote, with_record
from harness.executors import container_runner, hardening
from harness.executors.container_runner import ContainerRunner, GpuPool, parse_gpus, read_result


def test_jail_profile_is_dockers_allowlist_plus_the_jails_calls():
    profile = hardening.jail_seccomp_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"  # deny by default
    allowed = set(profile["syscalls"][0]["names"])
    assert allowed == set(hardening.DOCKER_DEFAULT_ALLOWED) | set(hardening.JAIL_EXTRA_SYSCALLS)
    for denied in ("ptrace", "bpf", "keyctl", "setns", "kexec_load", "init_module", "perf_event_open", "add_key",
                   "process_vm_readv", "userfaultfd", "open_by_handle_at", "reboot", "swapon", "chroot", "acct"):
        assert denied not in allowed, denied
        assert all(denied not in rule["names"] for rule in profile["syscalls"][1:])
    assert {"clone", "unshare", "mount", "umount2", "pivot_root", "sethostname"} <= allowed
    # Docker's argument-filtered rules stay: no vsock sockets, only the usual personalities
    assert {"index": 0, "value": hardening.AF_VSOCK, "op": "SCMP_CMP_NE"} in profile["syscalls"][1]["args"]


def test_job_command_is_labelled_hardened_and_kept_for_inspection(tmp_path):
    for p in ("spec.json", "loss.py"):
        (tmp_path / p).write_text("{}")
    args = hardening.docker_run_args(image="img", spec=tmp_path / "spec.json", loss=tmp_path / "loss.py", out=tmp_path,
                                     models=None, data=tmp_path, limits=hardening.JobLimits(cpus=2), name="j1",
                                     labels={hardening.LABEL: "host:1:2"}, remove=False)
    line = " ".join(args)
    assert "--rm" not in args  # the runner reads OOMKilled before removing it
    assert f"--label {hardening.LABEL}=host:1:2" in line and "--name j1" in line
    assert "--network none" in line and "--cap-drop ALL" in line and "target=/data,readonly" in line
    assert "--env" in args and not any(a.startswith(("OPENAI", "HF_TOKEN")) for a in args)


def _runner(tmp_path, timeout_s=5.0) -> ContainerRunner:
    runner = object.__new__(ContainerRunner)  # no daemon needed to test the mapping
    runner.image, runner.timeout_s, runner.limits = "img", timeout_s, hardening.JobLimits(memory="1g")
    runner.identity = {"image": "img", "id": "sha256:abc", "repo_digests": []}
    return runner


@pytest.mark.parametrize(("code", "state", "timed_out", "result", "status"), [
    (137, {"OOMKilled": False}, True, None, "timeout"),
    (137, {"OOMKilled": True}, False, None, "oom"),
    (125, {}, False, None, "error"),  # the runtime failed before the job ran: a harness fault
    (2, {"OOMKilled": False}, False, None, "error"),  # the job spec was wrong: a harness fault
    (1, {"OOMKilled": False}, False, {"status": "invalid", "error": "no loss()"}, "invalid"),
    (0, {"OOMKilled": False}, False, {"status": "ok"}, "ok"),
    (139, {"OOMKilled": False}, False, None, "crash"),
    (0, {"OOMKilled": False}, False, {"status": "won"}, "error"),  # a result with an unknown status is refused
])
def test_how_a_container_ended_maps_to_a_status(tmp_path, code, state, timed_out, result, status):
    if result is not None:
        (tmp_path / "result.json").write_text(json.dumps(result))
    run = _runner(tmp_path)._classify(code, state, timed_out, 1.0, tmp_path, "log tail")
    assert run.status == status and run.image["id"] == "sha256:abc"
    assert (run.status == "ok") == (run.error is None)
    assert run.harness_fault == (status == "error")


def test_result_files_are_validated(tmp_path):
    p = tmp_path / "result.json"
    p.write_text("[1, 2]")
    assert read_result(p) is None
    p.write_text(json.dumps({"status": "timeout"}))
    assert "without an error text" in read_result(p)["error"]


def test_gpus_round_robin_one_job_per_card():
    pool = GpuPool(["0", "1", "2"])
    got = [pool.acquire() for _ in range(3)]
    assert got == ["device=0", "device=1", "device=2"] and pool.slots() == 3
    pool.release("device=1")
    assert pool.acquire() == "device=1"  # the only free card
    assert GpuPool([]).acquire() == ""  # CPU host: CPU containers
    assert parse_gpus("0, 2") == ["0", "2"] and parse_gpus("") == []
    with pytest.raises(ValueError, match="indices"):
        parse_gpus("first")


def test_orphans_are_containers_whose_controller_is_gone():
    assert container_runner._owner_alive(container_runner.owner_id())
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not container_runner._owner_alive(container_runner.owner_id(dead.pid))  # exited: its containers are reaped
    host, pid, start = container_runner.owner_id().split(":")
    assert not container_runner._owner_alive(f"{host}:{pid}:{int(start) + 1}")  # same pid, another process
    assert container_runner._owner_alive(f"other-host:{pid}:{start}")  # another machine's: left alone


def test_jobs_carry_the_code_not_a_path(tmp_path):
    (tmp_path / "candidates").mkdir()
    job = job_for(tmp_path, 3, "def loss(x):\n    return x\n")
    assert job.source == b"def loss(x):\n    return x\n"
    assert job.sha256 == hashlib.sha256(job.source).hexdigest()
    os.remove(job.candidate_path)  # the controller's copy is gone: the worker still has the code
    staged = _stage(job.source, job.sha256, "00003.py")
    assert staged.read_bytes() == job.source and staged != job.candidate_path
    with pytest.raises(ValueError, match="sha256"):
        _stage(b"tampered", job.sha256, "00003.py")


def test_a_remote_worker_sends_its_record_back(tmp_path, monkeypatch):
    from harness.discovery.config import EvalSettings

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    source = b"def loss(policy_chosen_logps, beta):\n    return policy_chosen_logps\n"
    data = run_remote(EvalSettings(evaluator="fake"), source, hashlib.sha256(source).hexdigest(), "00001.py")
    assert data["status"] in ("ok", "crash", "invalid")
    record_file = tmp_path / "r.json"
    record_file.write_text(json.dumps({"status": "ok", "path": "/elsewhere/rec.json"}))
    sent = with_record({"status": "ok", "metrics": {"record_path": str(record_file)}})
    assert "record_path" not in sent["metrics"] and sent["record"]["status"] == "ok"
    kept = keep_record(sent, tmp_path / "runs" / "00001")  # a record that fails the schema is not kept
    assert "record" not in kept and "not kept" in kept["metrics"]["record_error"]


def test_missing_docker_daemon_or_image_is_said_with_the_fix(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from harness.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI at all
    assert "apt-get install docker.io" in container_runner.unavailable_reason("img")
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\n[ \"$1\" = image ] && exit 1\n[ \"$1\" = info ] && [ -n \"$DAEMON_UP\" ] && exit 0\n"
                    "echo 'Cannot connect to the Docker daemon' >&2; exit 1\n")
    fake.chmod(0o755)
    assert "daemon is not running" in container_runner.unavailable_reason("img")
    monkeypatch.setenv("DAEMON_UP", "1")
    assert "scripts/job_image.sh" in container_runner.unavailable_reason("img")
    r = CliRunner().invoke(main, ["bench", "--loss", "losses/dpo.py", "--executor", "docker", "--seeds", "1"])
    assert r.exit_code == 2 and "scripts/job_image.sh" in r.output
    r = CliRunner().invoke(main, ["suites"])
    assert r.exit_code == 0 and "not ready" in r.output and "scripts/job_image.sh" in r.output


def test_a_container_that_finished_before_a_kill_is_not_run_again(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # the controller's run store takes the record
    from harness.discovery.containers import DockerExecutor

    class NoRuns:
        identity = {"id": "sha256:feed"}

        def run(self, *a, **k):
            raise AssertionError("the finished candidate was evaluated again")

    from test_attack_discovery import SETTINGS, tiny_record

    ex = object.__new__(DockerExecutor)
    ex.runner, ex.jobs, ex._futures, ex.settings = NoRuns(), tmp_path / "jobs", {}, SETTINGS
    ex._threads = ThreadPoolExecutor(1)
    finished = {"status": "ok", "fitness": 0.5, "error": None, "metrics": {"record_path": "/out/runs/x/r.json"},
                "seconds": 3.0, "behaviour_key": None, "duplicate_of": None}
    (tmp_path / "jobs" / "00001" / "out" / "runs" / "x").mkdir(parents=True)
    (tmp_path / "jobs" / "00001" / "out" / "result.json").write_text(json.dumps({"status": "ok", "evaluation": finished}))
    # the record the evaluation names: its fitness is what counts (checked and recomputed here)
    (tmp_path / "jobs" / "00001" / "out" / "runs" / "x" / "r.json").write_text(json.dumps(tiny_record(0.5)))
    (tmp_path / "results").mkdir()
    (tmp_path / "candidates").mkdir()
    job = job_for(tmp_path, 1, "def loss(x):\n    return x\n")
    ex.submit(job)
    (cid, data), = ex.poll(30)
    ex.shutdown()
    assert cid == 1 and data["fitness"] == 0.5 and data["metrics"]["image"] == "sha256:feed"
    assert data["metrics"]["record_path"] == str(tmp_path / "jobs" / "00001" / "out" / "runs" / "x" / "r.json")
    assert json.loads((tmp_path / "results" / "00001.json").read_text())["fitness"] == 0.5  # what --resume reads
