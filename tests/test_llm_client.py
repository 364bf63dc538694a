"""harness.llm_client: retries, fatal errors, accounting, budget, concurrency, key hygiene.

Fast tier: a scripted local HTTP endpoint (tests/llm_server.py ScriptedProxy). Api tier: the real
llama.cpp server.
"""

from __future__ import annotations

import threading
import time

import pytest
from llm_server import free_port

from harness.llm_client import (
    BudgetExceeded,
    ChatRequest,
    ClientSettings,
    LLMClient,
    LLMConfigError,
    LLMUnavailableError,
)

SECRET = "sk-test-SECRET-0123456789"
HELLO = ChatRequest(messages=({"role": "user", "content": "Say hi."},), max_tokens=4)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def make_client(base_url, sleeps=None, **overrides) -> LLMClient:
    settings = ClientSettings(base_url=base_url, model="m", max_retries=3, **overrides)
    return LLMClient(settings, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_retries_429_then_succeeds_and_counts(key_env, scripted_proxy):
    proxy = scripted_proxy(script=[429, 503], default="hello")
    sleeps: list[float] = []
    client = make_client(proxy.base_url, sleeps)
    completion = client.complete(HELLO)
    assert completion.text == "hello"
    assert proxy.requests == 3
    usage = client.usage.as_dict()
    assert (usage["api_calls"], usage["retries"], usage["completions"]) == (3, 2, 1)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (10, 3)
    assert sleeps == [0.0, 0.0]  # the server's Retry-After: 0 is honoured


def test_backoff_is_exponential_with_jitter_and_capped(key_env, scripted_proxy):
    proxy = scripted_proxy(script=[500, 500, 500], default="ok")
    sleeps: list[float] = []
    client = make_client(proxy.base_url, sleeps, backoff_initial_s=1.0, backoff_max_s=3.0)
    draws = [[client._backoff(i, None) for i in range(4)] for _ in range(200)]
    caps = [1.0, 2.0, 3.0, 3.0]
    for i, cap in enumerate(caps):
        column = [d[i] for d in draws]
        assert 0.0 <= min(column) and max(column) <= cap
        assert max(column) > 0.7 * cap  # jitter spans the range rather than sitting at 0
    assert client.complete(HELLO).text == "ok"


def test_retries_exhausted_raise_unavailable(key_env, scripted_proxy):
    proxy = scripted_proxy(default=500)
    client = make_client(proxy.base_url)
    with pytest.raises(LLMUnavailableError, match="gave up after 4 attempts.*HTTP 500"):
        client.complete(HELLO)
    assert proxy.requests == 4


@pytest.mark.parametrize("status,hint", [(401, "OPENAI_API_KEY"), (404, "--base-url"), (400, "rejected")])
def test_client_errors_fail_at_once_without_the_key(key_env, scripted_proxy, status, hint):
    proxy = scripted_proxy(default=status)
    client = make_client(proxy.base_url)
    with pytest.raises(LLMConfigError) as info:
        client.complete(HELLO)
    assert proxy.requests == 1  # no retry storm
    assert f"HTTP {status}" in str(info.value) and hint in str(info.value)
    assert SECRET not in str(info.value)


def test_refused_connection_is_retried_then_reported(key_env):
    client = make_client(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMUnavailableError, match="APIConnectionError") as info:
        client.complete(HELLO)
    assert client.usage.as_dict()["api_calls"] == 4
    assert SECRET not in str(info.value)


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="MY_JUDGE_KEY is not set"):
        LLMClient(ClientSettings(base_url="https://judge.example.org/v1", model="m", api_key_env="MY_JUDGE_KEY"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1",
                                 "http://127.9.0.1:1/v1"])
def test_a_keyless_local_server_needs_no_key(monkeypatch, url):
    """vllm serve / llama.cpp on this machine, started without --api-key: no OPENAI_API_KEY needed."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = LLMClient(ClientSettings(base_url=url, model="m"))
    assert client._client.api_key == "EMPTY"
    for remote in ("http://127.0.0.1.example.org/v1", "http://10.0.0.1:8000/v1", "https://api.openai.com/v1"):
        with pytest.raises(LLMConfigError, match="OPENAI_API_KEY is not set"):
            LLMClient(ClientSettings(base_url=remote, model="m"))


def test_settings_never_hold_the_key(key_env):
    client = make_client("http://127.0.0.1:1/v1")
    assert SECRET not in repr(client.settings) and SECRET not in repr(client.usage.as_dict())


def test_scrub_removes_keylike_strings(key_env):
    client = make_client("http://127.0.0.1:1/v1")
    assert client._scrub("Incorrect API key provided: sk-abc123XYZ***wxyz.") == "Incorrect API key provided: sk-***."


def test_precedence_flag_settings_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    assert ClientSettings(model="m").resolved().base_url == "http://env/v1"
    assert ClientSettings(base_url="http://cfg/v1/", model="m").resolved().base_url == "http://cfg/v1"
    resolved = ClientSettings(base_url="http://cfg/v1", model="m").resolved(base_url="http://flag/v1", model="x")
    assert (resolved.base_url, resolved.model) == ("http://flag/v1", "x")
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert ClientSettings(model="m").resolved().base_url == "https://api.openai.com/v1"


def test_budget_in_tokens_stops_before_sending(key_env, scripted_proxy):
    proxy = scripted_proxy(default="ok")  # each answer reports 13 tokens
    client = make_client(proxy.base_url, budget_tokens=20)
    client.complete(HELLO)
    client.complete(HELLO)
    with pytest.raises(BudgetExceeded, match="20 tokens"):
        client.complete(HELLO)
    assert proxy.requests == 2


def test_cost_accounting_and_dollar_budget(key_env, scripted_proxy):
    proxy = scripted_proxy(default="ok")
    client = make_client(proxy.base_url, price_input_per_mtok=1000.0, price_output_per_mtok=2000.0,
                         budget_usd=0.02)
    client.complete(HELLO)
    assert client.usage.as_dict()["cost_usd"] == pytest.approx(10 * 1e-3 + 3 * 2e-3)
    with pytest.raises(BudgetExceeded):
        client.complete(HELLO)
        client.complete(HELLO)


def test_map_bounds_concurrency(key_env):
    client = make_client("http://127.0.0.1:1/v1", max_concurrency=3)
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def work(x):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return x * x

    results = dict(client.map(work, range(12)))
    assert results == {i: i * i for i in range(12)}
    assert state["peak"] == 3


def test_map_stops_on_error_but_keeps_finished_work(key_env):
    client = make_client("http://127.0.0.1:1/v1", max_concurrency=2)
    started: list[int] = []

    def work(x):
        started.append(x)
        if x == 3:
            raise BudgetExceeded("spent")
        time.sleep(0.01)
        return x

    got = []
    with pytest.raises(BudgetExceeded):
        for _index, result in client.map(work, range(20)):
            got.append(result)
    assert 3 not in got and set(got) == set(started) - {3}
    assert len(started) < 20  # nothing new was started after the error


# -- api tier: the real llama.cpp server -----------------------------------------------------------
@pytest.mark.api
def test_real_server_protocol_logprobs_and_usage(llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "local-no-auth")
    client = LLMClient(ClientSettings(base_url=llm_server.base_url, model=llm_server.model))
    completion = client.complete(ChatRequest(
        messages=({"role": "user", "content": "Is 2+2=4? Answer A for yes, B for no."},),
        max_tokens=1, top_logprobs=5))
    assert completion.completion_tokens == 1 and completion.prompt_tokens > 5
    assert completion.first_token_logprobs and len(completion.first_token_logprobs) == 5
    assert all(lp <= 0.0 for _, lp in completion.first_token_logprobs)
    usage = client.usage.as_dict()
    assert usage["api_calls"] == 1 and usage["prompt_tokens"] == completion.prompt_tokens


@pytest.mark.api
def test_real_server_wrong_key_is_401_at_once(llm_server_factory, monkeypatch):
    server = llm_server_factory(api_key="right-key-123")
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key-456")
    client = LLMClient(ClientSettings(base_url=server.base_url, model=server.model))
    with pytest.raises(LLMConfigError, match="HTTP 401") as info:
        client.complete(HELLO)
    assert client.usage.as_dict()["api_calls"] == 1
    assert "wrong-key-456" not in str(info.value)
    monkeypatch.setenv("OPENAI_API_KEY", "right-key-123")
    assert LLMClient(ClientSettings(base_url=server.base_url, model=server.model)).complete(HELLO).completion_tokens > 0


@pytest.mark.api
def test_real_server_behind_429_proxy(llm_server, scripted_proxy, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "local-no-auth")
    proxy = scripted_proxy(script=[429, 429], upstream=llm_server.base_url)
    client = LLMClient(ClientSettings(base_url=proxy.base_url, model=llm_server.model), sleep=lambda s: None)
    completion = client.complete(HELLO)
    assert completion.completion_tokens > 0
    assert proxy.requests == 3 and client.usage.as_dict()["retries"] == 2
