"""Proposers: evolve renders valid loss files; parent selection; the llm prompt and reply protocol."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.discovery import expressions as ex
from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, LLMSettings
from harness.discovery.dedupe import code_key
from harness.discovery.evolve import EvolveProposer
from harness.discovery.llm import LLMProposer, parse_reply
from harness.discovery.proposer import parent_weights, select_parents
from harness.lossfile import load_loss, parse_loss_source
from harness.session import compute_loss_and_grads


def _archive_with_scores(tmp_path, proposer, n: int, rng: random.Random) -> Archive:
    """Drive ``proposer`` for n rounds, scoring each proposal with a random fitness."""
    archive = Archive(tmp_path / "archive.sqlite")
    for _ in range(n):
        p = proposer.propose(archive)
        cid = archive.add(parent_ids=p.parent_ids, proposer="evolve", name=p.name, code=p.code, sha256="-",
                          code_key=code_key(p.code), meta=p.meta)
        archive.complete(cid, status="ok", error=None, fitness=rng.random(), metrics={})
    return archive


def _behaves(code: str, path: Path) -> bool:
    """Our own generated code (trusted) run in-process: shape (B,), finite values and gradients."""
    path.write_text(code)
    loss = load_loss(path)
    torch.manual_seed(0)
    inputs = {k: -20 + 5 * torch.randn(16) for k in loss.params if k != "beta"}
    try:
        reply = compute_loss_and_grads(loss, inputs, 0.05, True)
    except Exception:
        return False
    return reply.losses.shape == (16,) and bool(torch.isfinite(reply.losses).all()) and all(
        bool(torch.isfinite(g).all()) for g in reply.grads.values())


def test_evolve_starts_from_the_paper_baselines_then_varies(tmp_path):
    proposer = EvolveProposer(DiscoveryConfig(out_dir=str(tmp_path)))
    archive = _archive_with_scores(tmp_path, proposer, 40, random.Random(0))
    cands = archive.all()
    assert [c.name for c in cands[: len(ex.SEEDS)]] == [f"seed_{k}" for k in ex.SEEDS]
    later = cands[len(ex.SEEDS):]
    assert {c.meta["operator"] for c in later} >= {"mutation", "crossover"}
    assert all(c.parent_ids for c in later if c.meta["operator"] != "random")
    assert len({c.code_key for c in cands}) == len(cands)  # never proposes a near-duplicate
    for c in cands:
        parse_loss_source(c.code)  # every rendered file passes the structural contract


def test_evolve_files_mostly_behave(tmp_path):
    proposer = EvolveProposer(DiscoveryConfig(out_dir=str(tmp_path), seed=3))
    archive = _archive_with_scores(tmp_path, proposer, 120, random.Random(1))
    ok = sum(_behaves(c.code, tmp_path / f"c{c.id}.py") for c in archive.all())
    assert ok >= 0.85 * 120, f"only {ok}/120 evolved losses give finite values and gradients"


@pytest.mark.slow  # twelve sandboxed checks, about 2 s each
def test_evolve_files_mostly_pass_harness_check(tmp_path):
    checks = pytest.importorskip("harness.checks", reason="harness check is not installed")
    proposer = EvolveProposer(DiscoveryConfig(out_dir=str(tmp_path), seed=5))
    archive = _archive_with_scores(tmp_path, proposer, 12, random.Random(2))
    try:
        reports = []
        for c in archive.all():
            path = tmp_path / f"c{c.id}.py"
            path.write_text(c.code)
            reports.append(checks.check_loss_file(path))
    except checks.CheckSetupError as e:
        pytest.skip(f"no sandbox to run harness check in: {e}")
    valid = sum(r.valid for r in reports)
    assert valid >= 8, [r.errors for r in reports if not r.valid]


def test_render_rejects_malformed_trees():
    for bad in [("var", "x"), ("mean", ("var", "x")), ("exp", ("const", 1.0)), ("nope", ("var", "x")),
                ("add", ("var", "x"))]:
        with pytest.raises(ex.ExpressionError):
            ex.render_loss_file(bad, "bad")
    tree = ex.SEEDS["lrml"]
    assert ex.from_json(ex.to_json(tree)) == tree


@dataclass(frozen=True)
class _C:
    id: int


def test_parent_selection_prefers_rank_and_penalises_children():
    scored = [_C(i) for i in range(10)]  # best first
    w = parent_weights(scored, {})
    assert w == sorted(w, reverse=True) and w[0] > 10 * w[-1]
    w2 = parent_weights(scored, {0: 4})
    assert w2[0] == pytest.approx(w[0] / 5)
    rng = random.Random(0)
    picks = [select_parents(scored, {}, rng, 1)[0].id for _ in range(2000)]
    assert picks.count(0) > picks.count(5) > picks.count(9)
    pair = select_parents(scored, {}, rng, 2)
    assert pair[0].id != pair[1].id


# ------------------------------------------------------------------ llm protocol with a fake client


@dataclass(frozen=True)
class _Completion:
    text: str
    prompt_tokens: int = 100
    completion_tokens: int = 50
    first_token_logprobs: None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class _Settings:
    model: str = "fake"
    price_input_per_mtok: float = 1.0
    price_output_per_mtok: float = 2.0


class FakeClient:
    """Test double of harness.llm_client.LLMClient: records requests, plays replies."""

    def __init__(self, replies):
        self.replies, self.requests, self.settings = list(replies), [], _Settings()

    def complete(self, request):
        self.requests.append(request)
        return _Completion(self.replies.pop(0))


def test_llm_prompt_shows_archive_selection_and_real_errors(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    ok = archive.add(parent_ids=(), proposer="llm", name="dpo_like", code="def loss(policy_chosen_logps): ...",
                     sha256="-", code_key="k1")
    archive.complete(ok, status="ok", error=None, fitness=0.61, metrics={})
    bad = archive.add(parent_ids=(), proposer="llm", name="broken", code="def loss(x):", sha256="-", code_key="k2")
    archive.complete(bad, status="crash", error="Traceback...\nRuntimeError: shape mismatch (7,) vs (64,)", fitness=None,
                     metrics={})
    archive.add(parent_ids=(), proposer="llm", name="bad_args", code="def loss(x): pass", sha256="-", code_key="k3",
                status="invalid", error="unknown parameter(s) x of `loss`")
    reply = json.dumps({"thought": "blend", "name": "my loss!", "code": "def loss(policy_chosen_logps): return 0"})
    client = FakeClient([f"```json\n{reply}\n```"])
    config = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm", eval=EvalSettings(beta=0.1),
                             llm=LLMSettings(temperature=0.7))
    proposal = LLMProposer(config, client=client).propose(archive)
    sent = client.requests[0]
    system, user = sent.messages[0]["content"], sent.messages[1]["content"]
    assert "machine learning researcher" in system and "beta is 0.1" in system and "policy_chosen_logps" in system
    assert "Fitness: 0.6100" in user and "Best so far" in user
    assert "RuntimeError: shape mismatch (7,) vs (64,)" in user and "Training failed (status: crash)" in user
    assert "Code not valid. Error:" in user and "unknown parameter(s) x" in user
    assert sent.temperature == 0.7 and sent.response_format["type"] == "json_schema"
    assert proposal.name == "my_loss_" and proposal.code.startswith("def loss")
    assert proposal.meta["prompt"] == list(sent.messages) and proposal.meta["thought"] == "blend"
    assert proposal.cost == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6)
    assert set(proposal.parent_ids) == {ok, bad, 3}


def test_llm_unparseable_reply_becomes_an_error_not_a_crash(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    config = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm")
    proposal = LLMProposer(config, client=FakeClient(["Sure! Here is a loss: def loss(..."])).propose(archive)
    assert proposal.error and "not a JSON object" in proposal.error and proposal.code == ""
    assert "(none yet" in proposal.meta["prompt"][1]["content"]


def test_parse_reply_cases():
    assert parse_reply('{"thought": "t", "name": "n", "code": "c"}')["code"] == "c"
    assert parse_reply('noise {"name": "n", "code": "c"} trailing')["thought"] == ""
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_reply('{"name": "n", "code": }')
    with pytest.raises(ValueError, match="code"):
        parse_reply('{"name": "n", "code": ""}')


def test_templates_dir_overrides_a_template(tmp_path):
    (tmp_path / "user.txt").write_text("CUSTOM $archive END")
    config = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm", llm=LLMSettings(templates_dir=str(tmp_path)))
    client = FakeClient(['{"name": "n", "code": "c"}'])
    LLMProposer(config, client=client).propose(Archive(tmp_path / "a.sqlite"))
    assert client.requests[0].messages[1]["content"].startswith("CUSTOM (none yet")
