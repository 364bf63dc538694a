"""The llm proposer against the real local OpenAI-compatible server (llama.cpp + SmolLM2-135M).

A 135M model mostly proposes broken code: the loop must survive it, record the statuses, and feed
the real error texts back. The prompts are read off the wire by a recording proxy, so the test sees
exactly what the endpoint received.
"""

from __future__ import annotations

import json

import pytest
from llm_server import ScriptedProxy

from harness.discovery.archive import CANDIDATE_STATUSES, Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, LLMSettings
from harness.discovery.loop import run_discovery

pytestmark = pytest.mark.api


class RecordingProxy(ScriptedProxy):
    """Forwards every request to the real server and keeps the JSON bodies it received."""

    def __init__(self, upstream: str):
        self.bodies: list[dict] = []
        super().__init__(default="forward", upstream=upstream)

    def _play(self, handler, body: bytes) -> None:
        self.bodies.append(json.loads(body))
        super()._play(handler, body)


def test_llm_proposer_survives_a_small_model_and_feeds_back_real_errors(llm_env, tmp_path):
    proxy = RecordingProxy(llm_env.base_url)
    try:
        config = DiscoveryConfig(
            out_dir=str(tmp_path / "run"), proposer="llm", budget=3, parallel=1, progress=False,
            eval=EvalSettings(evaluator="fake"),
            # Small selections keep the prompt inside the test server's 2048-token context.
            llm=LLMSettings(base_url=proxy.base_url, model=llm_env.model, temperature=0.8, max_tokens=160,
                            timeout_s=300, n_best=1, n_diverse=0, n_recent=2, error_chars=400))
        result = run_discovery(config)
    finally:
        proxy.close()
    assert not result.proposer_failed, result.stop_reason
    assert result.stop_reason == "budget of 3 candidates reached"
    archive = Archive(result.out_dir / "archive.sqlite")
    cands = archive.all()
    assert all(c.status in CANDIDATE_STATUSES and c.status != "pending" for c in cands)
    assert all((c.status == "ok") == (c.fitness is not None) for c in cands)
    failed = [c for c in cands if c.status not in ("ok", "duplicate")]
    assert failed, "expected the 135M model to propose at least one broken loss"
    assert all(c.error for c in failed)

    # Each candidate's stored prompt is the one the endpoint received, request for request.
    sent = [b["messages"] for b in proxy.bodies]
    stored = [c.meta["prompt"] for c in cands]
    assert all(p in sent for p in stored)
    assert proxy.bodies[0]["temperature"] == 0.8 and proxy.bodies[0]["max_tokens"] == 160
    # The real error text of a failed candidate reached a later prompt (not "None", as in the paper's code).
    later_user_texts = [m[1]["content"] for m in sent[1:]]
    shown = [c for c in failed if any(c.error.strip()[-80:] in text for text in later_user_texts)]
    assert shown, "no failed candidate's error text appears in any later prompt"
    assert all("Error:\n```\nNone\n```" not in text for text in later_user_texts)
