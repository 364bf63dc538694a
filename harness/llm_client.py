"""One client for every OpenAI-compatible endpoint the harness talks to (LLM judges, the LLM proposer).

What it adds to the ``openai`` package:

* settings resolved in one place: explicit flag > judge/proposer settings > ``OPENAI_BASE_URL``;
  the API key ONLY from an environment variable (``OPENAI_API_KEY`` unless the settings name
  another). The key is never stored in settings, records, caches, logs or error messages.
* bounded concurrency (``map``) and retries with exponential backoff and full jitter on 429, 5xx,
  timeouts and refused connections (the ``openai`` package's own retries are switched off so that
  every attempt is counted);
* an immediate ``LLMConfigError`` on 401/403/404/405 (bad key, bad URL, bad model): retrying cannot
  fix those and a retry storm would only hide them. Any other 4xx that is not retryable (400, 413,
  422, ...) raises its subclass ``LLMRequestRejected``: the endpoint refused THIS request (a content
  filter, a prompt over the context length) or every request (an unsupported parameter); the caller
  tells the two apart by whether other requests succeed;
* token and cost accounting per client, and an optional budget (dollars or tokens) that stops
  cleanly: no new request is sent once it is spent (requests already in flight finish, so the
  overshoot is at most ``max_concurrency`` requests). An endpoint that returns no ``usage`` (some
  local servers and proxies) has its tokens counted here instead, as an ESTIMATE
  (``estimate_tokens``), counted in ``Usage.estimated_completions``: a token or dollar budget then
  still stops, and reports say the figures are estimates.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from harness.text import clean_line

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # what the openai package itself uses
RETRYABLE_STATUS = frozenset({408, 409, 429})  # plus every 5xx
ENDPOINT_WIDE_STATUS = frozenset({401, 403, 404, 405, 407})  # key, permission, URL, model: never one request's fault

# the usage estimate: ceil(UTF-8 bytes / 3) per text, plus per-message framing (OpenAI's cookbook counts
# 3 tokens per message and 3 to prime the reply). English averages ~4 characters a token, code and
# other scripts fewer; bytes / 3 over-counts most text, so a budget stops early rather than late.
BYTES_PER_TOKEN_ESTIMATE = 3
TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING = 3, 3

T = TypeVar("T")
R = TypeVar("R")


class LLMError(RuntimeError):
    """Base class: the endpoint could not give an answer."""


class LLMConfigError(LLMError):
    """A request that retrying cannot fix (missing/wrong key, wrong URL, unknown model)."""


class LLMRequestRejected(LLMConfigError):
    """A permanent 4xx other than 401/403/404/405: this request (or every request) was refused."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class LLMUnavailableError(LLMError):
    """Retries exhausted on 429 / 5xx / timeouts / refused connections."""


class BudgetExceeded(LLMError):
    """The budget cap is spent; no further request was sent."""


@dataclass(frozen=True)
class ClientSettings:
    """How to reach an endpoint. Holds no secret: the key is read from ``api_key_env`` at use."""

    base_url: str | None = None  # None: OPENAI_BASE_URL, else the OpenAI default
    model: str = ""  # model name sent with every request (required)
    api_key_env: str = "OPENAI_API_KEY"  # NAME of the environment variable holding the key
    max_concurrency: int = 4  # requests in flight at once
    max_retries: int = 5  # retries after the first attempt, on retryable failures only
    backoff_initial_s: float = 1.0  # first backoff; doubles each retry (full jitter)
    backoff_max_s: float = 30.0  # cap on one backoff (also caps a server's Retry-After)
    timeout_s: float = 120.0  # per request
    price_input_per_mtok: float = 0.0  # dollars per million prompt tokens (0 for local servers)
    price_output_per_mtok: float = 0.0  # dollars per million completion tokens
    budget_usd: float | None = None  # stop sending once this much is spent
    budget_tokens: int | None = None  # stop sending once this many tokens (prompt + completion) are used

    def __post_init__(self):
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_initial_s < 0 or self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("need 0 <= backoff_initial_s <= backoff_max_s")
        for name in ("budget_usd", "budget_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive when given, got {value}")

    def resolved(self, *, base_url: str | None = None, model: str | None = None) -> ClientSettings:
        """Apply the precedence flag > these settings > OPENAI_BASE_URL > OpenAI default."""
        url = base_url or self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return replace(self, base_url=url.rstrip("/"), model=model or self.model)


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[dict, ...]  # OpenAI chat messages ({"role": ..., "content": ...})
    max_tokens: int
    temperature: float = 0.0
    top_logprobs: int = 0  # > 0 asks for the first tokens' alternatives (AlpacaEval "weighted")
    response_format: dict | None = None  # passed through (e.g. a JSON schema for constrained output)


@dataclass(frozen=True)
class Completion:
    text: str
    # alternatives for the FIRST generated token as (token, logprob); None when not returned
    first_token_logprobs: tuple[tuple[str, float], ...] | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    usage_reported: bool = True  # False: the endpoint gave no usage; the token counts are estimates


@dataclass
class Usage:
    """Counters for one client; safe to update from its worker threads."""

    requests: int = 0  # HTTP requests actually sent (first attempts and retries)
    completions: int = 0  # requests that returned an answer
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated_completions: int = 0  # completions whose tokens were estimated (the endpoint gave no usage)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def as_dict(self) -> dict:
        with self._lock:
            return {"api_calls": self.requests, "completions": self.completions, "retries": self.retries,
                    "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                    "cost_usd": round(self.cost_usd, 6), "estimated_token_calls": self.estimated_completions}


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of a text's token count: ceil(UTF-8 bytes / BYTES_PER_TOKEN_ESTIMATE)."""
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_ESTIMATE)


def estimate_prompt_tokens(messages) -> int:
    """Estimated prompt tokens of chat ``messages`` (text contents plus per-message framing)."""
    total = TOKENS_REPLY_PRIMING
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        total += TOKENS_PER_MESSAGE + estimate_tokens(text)
    return total


LOCAL_PLACEHOLDER_KEY = "EMPTY"  # what a keyless local server is sent (the openai package needs some key)


def is_loopback_url(url: str | None) -> bool:
    """True when ``url``'s host is this machine (127.0.0.0/8, ::1, localhost): no key is needed there."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_KEYLIKE = re.compile(r"(sk-|key-)[A-Za-z0-9_\-*]{4,}")


class LLMClient:
    def __init__(self, settings: ClientSettings, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        import openai  # imported here so that light commands never pay for it

        if not settings.model:
            raise LLMConfigError("no model name: pass --model or set \"model\" in the judge settings")
        settings = settings.resolved()
        key = os.environ.get(settings.api_key_env, "")
        if not key and is_loopback_url(settings.base_url):
            key = LOCAL_PLACEHOLDER_KEY  # a server on this machine (vllm serve, llama.cpp) started without a key
        if not key:
            raise LLMConfigError(
                f"environment variable {settings.api_key_env} is not set: export the endpoint's API key "
                "there (a server on 127.0.0.1 started without a key needs none)")
        self.settings = settings
        self.usage = Usage()
        self._secret = key  # kept only to scrub it out of error texts
        self._openai_errors = openai
        self._client = openai.OpenAI(base_url=settings.base_url, api_key=key, max_retries=0,
                                     timeout=settings.timeout_s)
        self._sleep, self._rng = sleep, rng or random.Random()

    # -- one request ---------------------------------------------------------------------------
    def complete(self, request: ChatRequest) -> Completion:
        """One chat completion, retried on transient failures; raises an ``LLMError`` otherwise."""
        errors = self._openai_errors
        last, last_retry_after = "", None
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                self._sleep(self._backoff(attempt - 1, last_retry_after))
            self._check_budget()
            with self.usage._lock:
                self.usage.requests += 1
                self.usage.retries += attempt > 0
            last_retry_after = None
            try:
                response = self._client.chat.completions.create(**self._arguments(request))
            except errors.APIStatusError as exc:
                status = exc.status_code
                if status in ENDPOINT_WIDE_STATUS:
                    raise LLMConfigError(self._describe(status, exc)) from None
                if status not in RETRYABLE_STATUS and status < 500:
                    raise LLMRequestRejected(self._describe(status, exc), status) from None
                last, last_retry_after = self._describe(exc.status_code, exc), _retry_after(exc)
            except errors.APIConnectionError as exc:  # includes APITimeoutError
                last = self._scrub(f"{type(exc).__name__} talking to {self.settings.base_url}: {exc}")
            else:
                return self._record(response, request)
        raise LLMUnavailableError(
            f"gave up after {self.settings.max_retries + 1} attempts; last error: {last}. "
            "Fix: check that the server is up and not overloaded, or raise max_retries")

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.settings.model, "messages": list(request.messages),
                                "max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.top_logprobs:
            args.update(logprobs=True, top_logprobs=request.top_logprobs)
        if request.response_format is not None:
            args["response_format"] = request.response_format
        return args

    def _record(self, response, request: ChatRequest) -> Completion:
        usage, choice = response.usage, response.choices[0]
        pt, ct = (usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else (0, 0)
        estimated = not pt and not ct  # no usage (or an empty one): count the tokens here
        if estimated:
            pt, ct = estimate_prompt_tokens(request.messages), estimate_tokens(choice.message.content or "")
        cost = (pt * self.settings.price_input_per_mtok + ct * self.settings.price_output_per_mtok) / 1e6
        with self.usage._lock:
            self.usage.completions += 1
            self.usage.estimated_completions += estimated
            self.usage.prompt_tokens += pt
            self.usage.completion_tokens += ct
            self.usage.cost_usd += cost
        first = None
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        if content:
            first = tuple((alt.token, float(alt.logprob)) for alt in (content[0].top_logprobs or []))
        return Completion(choice.message.content or "", first, pt, ct, choice.finish_reason, not estimated)

    def _check_budget(self) -> None:
        s, u = self.settings, self.usage
        with u._lock:
            how = (f", {u.estimated_completions} of {u.completions} replies counted by estimate: the endpoint "
                   "returned no usage" if u.estimated_completions else "")
            if s.budget_usd is not None and u.cost_usd >= s.budget_usd:
                raise BudgetExceeded(f"budget of ${s.budget_usd} spent (${u.cost_usd:.4f}{how}); raise --budget-usd "
                                     "to go on")
            tokens = u.prompt_tokens + u.completion_tokens
            if s.budget_tokens is not None and tokens >= s.budget_tokens:
                raise BudgetExceeded(f"budget of {s.budget_tokens} tokens spent ({tokens}{how}); raise "
                                     "--budget-tokens to go on")

    def _backoff(self, retry_index: int, retry_after: float | None) -> float:
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.backoff_max_s)
        # full jitter (uniform in [0, cap]) spreads concurrent clients apart after a shared 429
        return self._rng.uniform(0.0, min(s.backoff_max_s, s.backoff_initial_s * 2 ** retry_index))

    def _describe(self, status: int, exc: Exception) -> str:
        hints = {401: f"check the key in ${self.settings.api_key_env}",
                 403: f"the key in ${self.settings.api_key_env} may not access this model",
                 404: "check --base-url (it usually ends in /v1) and --model",
                 400: "the endpoint rejected the request (a content filter, a prompt too long, or model "
                      "name, max_tokens or logprobs unsupported?)"}
        # the server's text is untrusted: no control characters or escape sequences reach a terminal
        message = clean_line(getattr(exc, "message", None) or str(exc))
        hint = hints.get(status, "the server reported an error")
        return self._scrub(f"HTTP {status} from {self.settings.base_url} (model {self.settings.model!r}): "
                           f"{message[:300]}. Fix: {hint}")

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return _KEYLIKE.sub(r"\1***", text)

    # -- many requests -------------------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Run ``fn`` on items with at most ``max_concurrency`` in flight; yield (index, result).

        Results come back in completion order, in the caller's thread (so the caller may write
        them to a non-thread-safe store). On the first ``LLMError`` nothing new is started, the
        requests in flight are finished and yielded, then the error is raised: work already paid
        for is never lost.
        """
        pending = list(enumerate(items))[::-1]
        running: dict[Future, int] = {}
        error: LLMError | None = None
        with ThreadPoolExecutor(self.settings.max_concurrency) as pool:
            while pending or running:
                while pending and error is None and len(running) < self.settings.max_concurrency:
                    index, item = pending.pop()
                    running[pool.submit(fn, item)] = index
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    try:
                        result = future.result()
                    except LLMError as exc:
                        error = error or exc
                        continue
                    yield index, result
        if error is not None:
            raise error


def endpoint_id(base_url: str) -> str:
    """The endpoint as it identifies a server: scheme://host[:port]/path, lowercased scheme and host,
    without credentials, query or fragment (never a secret, so it may go into reports and cache keys).
    Two servers behind different URLs are different judges even when they answer to the same model name."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


def _retry_after(exc) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None
