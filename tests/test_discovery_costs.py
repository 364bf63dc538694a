"""`discover --max-cost` with the llm proposer (issue 32, fault 6): a cap that cannot be priced refuses to
start; known models' list prices, or given ones, count; replies without usage are counted by estimate.
A scripted local endpoint plays the proposer (fast tier)."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, LLMSettings
from harness.discovery.loop import run_discovery
from harness.prices import KNOWN_PRICES, known_prices

CODE = textwrap.dedent("""\
    import torch.nn.functional as F

    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
        logits = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
        return -F.logsigmoid(beta * logits * K)
    """)
BIG = {"prompt_tokens": 250_000, "completion_tokens": 250_000, "total_tokens": 500_000}


def proposals(usage):
    """A proposer endpoint: a new valid loss per request, each reply with ``usage`` (None: no usage)."""
    count = iter(range(1, 10_000))

    def reply(body):
        n = next(count)
        code = CODE.replace("K", f"{1 + n / 7:.4f}")
        return {"content": json.dumps({"thought": "vary the scale", "name": f"scaled_{n}", "code": code}),
                "usage": usage}
    return reply


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fast-tier-KEY-123456")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return tmp_path


def llm_config(tmp_path, base_url, *, budget=20, max_cost=None, **llm) -> DiscoveryConfig:
    return DiscoveryConfig(out_dir=str(tmp_path / "run"), proposer="llm", budget=budget, progress=False,
                           max_cost=max_cost, eval=EvalSettings(evaluator="fake"),
                           llm=LLMSettings(base_url=base_url, model=llm.pop("model", "x"), **llm))


def test_a_cost_cap_that_cannot_be_priced_refuses_to_start(env, scripted_proxy):
    proxy = scripted_proxy(default=proposals(BIG))
    with pytest.raises(ValueError, match=r"--max-cost cannot be enforced: the price of model 'x'.*--price-in"):
        llm_config(env, proxy.base_url, max_cost=1.0)
    # a well-known name at a local server is no price either: the server answers to any name
    with pytest.raises(ValueError, match="cannot be enforced"):
        llm_config(env, proxy.base_url, max_cost=1.0, model="gpt-4o")
    result = CliRunner().invoke(main, ["discover", "--proposer", "llm", "--max-cost", "1", "--base-url",
                                       proxy.base_url, "--model", "x", "--out", str(env / "cli"), "--quiet"])
    assert result.exit_code == 2 and "cannot be enforced" in result.stderr
    assert proxy.requests == 0 and not (env / "cli").exists()


def test_given_prices_make_the_cap_stop_the_search(env, scripted_proxy):
    proxy = scripted_proxy(default=proposals(BIG))
    # each reply: 250k + 250k tokens at $1 + $3 per million = $1.00
    result = run_discovery(llm_config(env, proxy.base_url, max_cost=2.5, price_in_per_mtok=1.0,
                                      price_out_per_mtok=3.0))
    assert "cost limit of $2.5" in result.stop_reason
    archive = Archive(result.out_dir / "archive.sqlite")
    assert archive.total_cost() >= 2.5 and proxy.requests <= 3 + 2  # proposals in flight may finish
    assert all(c.cost == pytest.approx(1.0) for c in archive.all())
    assert "API cost: $" in (result.out_dir / "report.md").read_text()


def test_known_models_are_priced_at_openais_endpoint_only():
    assert known_prices("gpt-4o", "https://api.openai.com/v1") == KNOWN_PRICES["gpt-4o"] == (2.50, 10.00)
    assert known_prices("gpt-4o", "http://127.0.0.1:8080/v1") is None
    assert known_prices("my-local-model", "https://api.openai.com/v1") is None
    assert LLMSettings(model="gpt-4o").prices() == (2.50, 10.00)  # the default endpoint is OpenAI's
    assert DiscoveryConfig(out_dir="x", proposer="llm", max_cost=5.0).max_cost == 5.0  # gpt-4o: priced
    assert LLMSettings(model="x", base_url="http://h/v1", price_in_per_mtok=0.0, price_out_per_mtok=0.0).prices() \
        == (0.0, 0.0)  # a free local server, said so
    with pytest.raises(ValueError, match="both prices"):
        LLMSettings(price_in_per_mtok=1.0)


def test_replies_without_usage_are_counted_by_estimate_and_still_reach_the_cap(env, scripted_proxy):
    proxy = scripted_proxy(default=proposals(None))
    result = run_discovery(llm_config(env, proxy.base_url, max_cost=0.002, price_in_per_mtok=1000.0,
                                      price_out_per_mtok=1000.0))
    assert "cost limit" in result.stop_reason
    cands = Archive(result.out_dir / "archive.sqlite").all()
    assert cands and all(c.cost > 0 and c.meta["tokens_estimated"] and min(c.meta["tokens"]) > 0 for c in cands)


def test_the_report_says_when_the_cost_is_unknown(env, scripted_proxy):
    proxy = scripted_proxy(default=proposals(BIG))
    result = run_discovery(llm_config(env, proxy.base_url, budget=2))
    report = (result.out_dir / "report.md").read_text()
    assert "API cost: unknown (no price for model x" in report
    assert all(not c.meta["cost_known"] for c in Archive(result.out_dir / "archive.sqlite").all())
