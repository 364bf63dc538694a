"""Jobs carry code, not paths: discovery on a two-node Ray cluster whose worker cannot see the controller's files.

The head (``ray start --head``, no CPUs, so every task runs on the worker) and the worker node are
separate ``ray start`` processes with separate temp dirs; the worker runs in its own mount namespace
with an empty tmpfs over the test's folder, so the run's candidate files exist only on the head's side.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.discovery.archive import Archive

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    return str(Path(sys.executable).parent / "ray")


@pytest.fixture
def two_nodes(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="ray is not installed: pip install 'harness[ray]'")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("ray tier: hiding the head's files from the worker needs root and unshare (a mount namespace)")
    port = _free_port()
    head_tmp, worker_tmp = (tempfile.mkdtemp(prefix=f"ray-{n}-", dir="/tmp") for n in ("head", "node"))
    # one token for the head, the worker node and this driver (Ray's token authentication)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.run([_ray_cli(), "start", "--head", f"--port={port}", "--num-cpus=0", "--num-gpus=0",
                           f"--temp-dir={head_tmp}", "--include-dashboard=false", "--disable-usage-stats"],
                          capture_output=True, text=True, timeout=180, env=env)
    if head.returncode != 0:
        pytest.fail(f"ray start --head failed: {head.stderr[-1500:]}")
    hide = f"mount -t tmpfs none {tmp_path} && exec {_ray_cli()} start --address=127.0.0.1:{port} --num-cpus=1 " \
           f"--num-gpus=0 --temp-dir={worker_tmp} --disable-usage-stats --block"
    worker = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
        subprocess.run([_ray_cli(), "stop", "--force"], capture_output=True, timeout=120, env=env)
        for d in (head_tmp, worker_tmp):
            shutil.rmtree(d, ignore_errors=True)


_DRIVER = """
import json, os, sys
import ray
from test_discovery import DPO, ScriptedProposer, variant
from harness.discovery.config import DiscoveryConfig, EvalSettings
from harness.discovery.loop import run_discovery
from harness.discovery.proposer import Proposal

address, out = sys.argv[1], sys.argv[2]
ray.init(address=address, log_to_driver=False)
for _ in range(240):  # the worker node joins
    if ray.cluster_resources().get("CPU", 0) >= 1:
        break
    import time; time.sleep(0.5)
else:
    sys.exit("the worker node did not join the cluster in 120 s")

@ray.remote(num_cpus=1)
def sees(path):
    return os.path.exists(path)

config = DiscoveryConfig(out_dir=out, budget=3, parallel=1, executor="ray", ray_address=address,
                         progress=False, eval=EvalSettings(evaluator="fake"))
proposals = [Proposal(DPO, "dpo"), Proposal(variant(2.0), "x2"), Proposal(variant(0.5), "x0.5")]
result = run_discovery(config, proposer=ScriptedProposer(proposals))
candidate = os.path.join(out, "candidates", "00001.py")
print(json.dumps({"head_has": os.path.exists(candidate), "worker_sees": ray.get(sees.remote(candidate))}))
ray.shutdown()
"""


def test_candidates_reach_a_worker_that_shares_no_files_with_the_head(two_nodes, tmp_path):
    # Ray reads RAY_AUTH_MODE / RAY_AUTH_TOKEN once, when it is imported, so the driver is its own
    # process started with the cluster's token (as a user's `harness discover --executor ray` would be).
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent),
                                                         *filter(None, [os.environ.get("PYTHONPATH")])]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    driver = subprocess.run([sys.executable, "-c", _DRIVER, two_nodes, str(tmp_path / "run")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert driver.returncode == 0, driver.stderr[-3000:]
    seen = json.loads(driver.stdout.strip().splitlines()[-1])
    assert seen == {"head_has": True, "worker_sees": False}  # only the head has the candidate file
    cands = Archive(tmp_path / "run" / "archive.sqlite").all()
    assert len(cands) == 3 and all(c.status in ("ok", "crash") for c in cands)  # the fake evaluator's statuses
    assert all(c.eval_seconds is not None for c in cands)  # each evaluated on the worker from its bytes
    assert sum(c.status == "ok" for c in cands) >= 1
