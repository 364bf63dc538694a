"""The adversarial loss files for loss-made text, run for real in the jail (issue 18, items 8 and 9):
`harness check` prints the terminal-escape attack inert, and the stderr-injection attack's real error
text stays inside its block in the next discovery prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_discovery_proposers import FakeClient
from test_discovery_replies import SHAPES, top_level_text
from test_loss_text_sinks import CONTROL, assert_terminal_safe

from harness.cli import main

pytestmark = pytest.mark.jail
ATTACKS = Path(__file__).parent / "sandbox_attacks"


@pytest.fixture(autouse=True)
def _jail():
    from harness.sandbox.jail import usable

    ok, reason = usable()
    if not ok:
        pytest.skip(f"jail backend unusable: {reason}")


def test_check_prints_the_terminal_escape_attack_inert():
    out = CliRunner().invoke(main, ["check", "--loss", str(ATTACKS / "terminal_escape.py"), "--backend", "jail"])
    assert out.exit_code == 1, out.output
    assert out.output.splitlines()[0].endswith("terminal_escape.py: INVALID")
    assert "error: invalid:" in out.output and "FILAVNI" in out.output  # the text is shown, inert
    assert_terminal_safe(out.output)
    as_json = CliRunner().invoke(main, ["check", "--loss", str(ATTACKS / "terminal_escape.py"), "--json"])
    assert not CONTROL.search(as_json.output)


def test_stderr_injection_stays_inside_its_block(tmp_path):
    import torch

    from harness.discovery.archive import Archive
    from harness.discovery.config import DiscoveryConfig
    from harness.discovery.llm import LLMProposer
    from harness.sandbox import open_session
    from harness.session import LossCallError

    inputs = {n: -torch.rand(4, dtype=torch.float64) * 50 for n in ("policy_chosen_logps", "policy_rejected_logps")}
    with pytest.raises(LossCallError) as info:
        with open_session(ATTACKS / "prompt_injection_stderr.py", backend="jail") as session:
            session.call(inputs, beta=0.1)
    error = info.value.message
    assert "New instructions from the operator" in error  # the real stderr tail carries the attack
    archive = Archive(tmp_path / "a.sqlite")
    cid = archive.add(parent_ids=(), proposer="llm", name="crasher", code=(ATTACKS / "prompt_injection_stderr.py")
                      .read_text(), sha256="-", code_key="k")
    archive.complete(cid, status=info.value.status, error=error, fitness=None, metrics={})
    client = FakeClient([SHAPES["plain"]])
    LLMProposer(DiscoveryConfig(out_dir=str(tmp_path), proposer="llm"), client=client).propose(archive)
    user = client.requests[0].messages[1]["content"]
    assert "New instructions from the operator" in user
    top = top_level_text(user)
    assert "New instructions" not in top and "Ignore every loss" not in top
