"""Discovery with per-token and hyper-parameter losses: the proposers' prompt documents them, the twin key
tells them apart, and the LD-DPO-style example of docs/losses.md runs through `discover` (local workers,
and Ray tasks on the ray tier) with the real check and bench."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_discovery import ScriptedProposer
from test_sandbox_training import MICRO

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig, EvalSettings, FinalizeSettings
from harness.discovery.dedupe import code_key
from harness.discovery.loop import run_discovery
from harness.discovery.proposer import Proposal
from harness.lossfile import parse_loss_source

DOCS = Path(__file__).resolve().parent.parent / "docs" / "losses.md"


def docs_example() -> str:
    """The LD-DPO-style loss file docs/losses.md shows, as written there."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    (example,) = [b for b in blocks if "Length-desensitised" in b]
    return example


def test_the_docs_example_declares_per_token_inputs_and_a_hyper_parameter():
    sig = parse_loss_source(docs_example(), "my_ld_dpo.py")
    assert "policy_chosen_token_logps" in sig.params
    assert [(h.name, h.default, h.low, h.high) for h in sig.hyperparameters] == [("alpha", 0.5, 0.0, 1.0)]


def test_the_proposers_prompt_documents_per_token_inputs_and_hyper_parameters(tmp_path):
    from harness.discovery.config import LLMSettings
    from harness.discovery.llm import LLMProposer

    cfg = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm", llm=LLMSettings(base_url="http://127.0.0.1:9"))
    system = LLMProposer(cfg).messages(Archive(tmp_path / "a.sqlite"))[0]["content"]
    for text in ("policy_chosen_token_logps", "chosen_token_mask", "chosen_token_kl", "(B, T)",
                 "HYPERPARAMETERS = {", "both ends included", "deterministic"):
        assert text in system, text


def test_near_duplicate_keys_keep_the_declarations_apart():
    a = docs_example()
    assert code_key(a) == code_key(a.replace("weighted", "w2"))  # local names do not matter
    assert code_key(a) != code_key(a.replace('"alpha": (0.0, 1.0)', '"alpha": (0.0, 0.9)'))
    assert code_key(a) != code_key(a.replace("alpha=0.5", "alpha=0.25"))


def _settings(**kw) -> EvalSettings:
    return EvalSettings(overrides={**MICRO, "eval.kl_budgets": [0.2, 0.1]}, behavioural_dedupe=True, **kw)


def _proposals() -> list[Proposal]:
    dpo = (Path(__file__).resolve().parent.parent / "losses" / "dpo.py").read_text()
    wpo = (Path(__file__).resolve().parent.parent / "losses" / "wpo.py").read_text()
    return [Proposal(dpo, "dpo"), Proposal(docs_example(), "my_ld_dpo"), Proposal(wpo, "wpo")]


def _check_run(result) -> None:
    by_name = {c.name: c for c in Archive(result.out_dir / "archive.sqlite").all()}
    assert {n: c.status for n, c in by_name.items()} == {"dpo": "ok", "my_ld_dpo": "ok", "wpo": "ok"}, \
        {n: (c.status, c.error) for n, c in by_name.items()}
    # on the rho grid all three are DPO: only the per-token probe keeps them from being behaviour twins
    assert len({c.behaviour_key for c in by_name.values()}) == 3


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_docs_example_runs_through_discover(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    cfg = DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=3, progress=False, finalize=FinalizeSettings(top_k=0), eval=_settings())
    _check_run(run_discovery(cfg, proposer=ScriptedProposer(_proposals())))


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(900)
def test_the_docs_example_runs_through_discover_on_ray(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'harness[ray]'")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    cfg = DiscoveryConfig(out_dir=str(tmp_path / "run"), budget=3, parallel=2, executor="ray", progress=False,
                          finalize=FinalizeSettings(top_k=0), eval=_settings())
    try:
        _check_run(run_discovery(cfg, proposer=ScriptedProposer(_proposals())))
    finally:
        if ray.is_initialized():
            ray.shutdown()
