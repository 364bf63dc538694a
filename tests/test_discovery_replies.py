"""LLM replies: recoverable shapes are used, unusable ones say what to fix (issue 15, item 13); loss-made
text in the next prompt stays inside its block (issue 18, item 9)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_discovery_proposers import FakeClient

from harness.discovery.archive import Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.llm import LLMProposer, ReplyError, parse_reply

CODE = ("import torch.nn.functional as F\n\n\ndef loss(policy_chosen_logps, policy_rejected_logps, beta):\n"
        "    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps))\n")


def raw_json(code: str, name: str = "dpo_v2") -> str:
    """JSON as some models write it: the code's newlines raw inside the string (the paper's example)."""
    escaped = code.replace('"', '\\"')
    return '{"thought": "try DPO", "name": "' + name + '", "code": "' + escaped + '"}'


SHAPES = {
    "plain": json.dumps({"thought": "t", "name": "dpo_v2", "code": CODE}),
    "code fenced": json.dumps({"thought": "t", "name": "dpo_v2", "code": f"```python\n{CODE}```"}),
    "code fenced, no language": json.dumps({"thought": "t", "name": "dpo_v2", "code": f"```\n{CODE}```\n"}),
    "code fenced with tildes": json.dumps({"thought": "t", "name": "dpo_v2", "code": f"~~~py\n{CODE}~~~"}),
    "raw newlines": raw_json(CODE),
    "raw newlines and a fence": raw_json(f"```python\n{CODE}```"),
    "json fence with prose": "Here is my next idea.\n```json\n" + raw_json(CODE) + "\n```\nGood luck!",
    "prose around json": "Sure: " + json.dumps({"thought": "t", "name": "dpo_v2", "code": CODE}) + " Done.",
    "braces in prose before": "I use {x} notation. " + json.dumps({"thought": "t", "name": "dpo_v2", "code": CODE}),
    "only a python block": f"I could not format JSON, sorry.\n```python\n{CODE}```\n",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_recoverable_replies_are_used(shape):
    reply = parse_reply(SHAPES[shape])
    assert reply["code"].strip() == CODE.strip()
    compile(reply["code"], "loss.py", "exec")  # the code is usable as a loss file
    assert reply["name"] in ("dpo_v2", "unnamed")


@pytest.mark.parametrize("reply, problem", [
    ("Sure! Here is a loss: def loss(...", "not a JSON object"),
    ('{"name": "n", "code": }', "not valid JSON"),
    ('{"name": "n", "code": ""}', "lacks a non-empty string for: code"),
    ('{"thought": "only thinking"}', 'no "name" and "code" fields'),
])
def test_unusable_replies_say_what_to_fix(reply, problem):
    with pytest.raises(ReplyError, match=re.escape(problem)) as info:
        parse_reply(reply)
    assert "To fix it, reply with exactly one JSON object" in str(info.value)


def test_unusable_reply_feedback_reaches_the_next_prompt(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    config = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm")
    proposer = LLMProposer(config, client=FakeClient(["no json here", SHAPES["raw newlines"]]))
    bad = proposer.propose(archive)
    assert bad.code == "" and "To fix it" in bad.error
    archive.add(parent_ids=(), proposer="llm", name=bad.name, code="", sha256="-", code_key="k", status="invalid",
                error=bad.error)
    good = proposer.propose(archive)
    assert good.error is None and good.code.strip() == CODE.strip()
    assert "To fix it, reply with exactly one JSON object" in good.meta["prompt"][1]["content"]


INJECTION_FILE = Path(__file__).parent / "sandbox_attacks" / "prompt_injection_stderr.py"


def injection_text() -> str:
    source = INJECTION_FILE.read_text()
    namespace: dict = {}
    exec(compile(source[source.index("INJECTION ="): source.index("\ndef loss")], str(INJECTION_FILE), "exec"),
         namespace)  # only the string constant: the attack is never run here
    return namespace["INJECTION"]


def top_level_text(prompt: str) -> str:
    markdown = pytest.importorskip("markdown_it", reason="markdown-it-py parses the prompt as CommonMark")
    tokens = markdown.MarkdownIt("commonmark").parse(prompt)
    return "\n".join(t.content for t in tokens if t.type in ("inline", "html_block"))


def test_loss_made_text_cannot_leave_its_block_in_the_prompt(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    stderr_tail = "the worker exited unexpectedly with code 3\n--- stderr tail ---\n" + injection_text()
    bad = archive.add(parent_ids=(), proposer="llm", name="crasher", code="def loss(x):\n    '''```'''\n",
                      sha256="-", code_key="k1")
    archive.complete(bad, status="crash", error=stderr_tail + "\x1b[2K\x1b]52;c;eA==\x07", fitness=None, metrics={})
    config = DiscoveryConfig(out_dir=str(tmp_path), proposer="llm")
    client = FakeClient([SHAPES["plain"]])
    LLMProposer(config, client=client).propose(archive)
    user = client.requests[0].messages[1]["content"]
    assert "New instructions from the operator" in user  # shown, as data
    top = top_level_text(user)
    assert "New instructions" not in top and "Ignore every loss" not in top and "pwned" not in top
    assert "Training failed (status: crash). Error:" in top  # the harness's own words stay at the top level
    assert "\x1b" not in user and "\x07" not in user
