"""The loss-file contract (harness.lossfile): one function, `loss` preferred, vocabulary, self.beta."""

from __future__ import annotations

import textwrap

import pytest
import torch

from harness.lossfile import VOCABULARY, LossFileError, load_loss, parse_loss_source, sha256_bytes

DPO_BODY = "    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps))\n"


def write(tmp_path, source: str, name: str = "candidate.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def inputs(batch: int = 4) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {
        "policy_chosen_logps": -torch.rand(batch, generator=gen) * 20,
        "policy_rejected_logps": -torch.rand(batch, generator=gen) * 20,
        "reference_chosen_logps": -torch.rand(batch, generator=gen) * 20,
        "reference_rejected_logps": -torch.rand(batch, generator=gen) * 20,
        "chosen_lengths": torch.tensor([1, 5, 9, 13])[:batch],
        "rejected_lengths": torch.tensor([2, 6, 10, 14])[:batch],
    }


def test_single_public_function_is_the_loss_and_helpers_are_private():
    sig = parse_loss_source(
        "def _margin(policy_chosen_logps, policy_rejected_logps):\n    return 0\n"
        "def my_loss(policy_chosen_logps, policy_rejected_logps, beta):\n    '''Doc line.'''\n    return 0\n"
    )
    assert sig.function == "my_loss"
    assert sig.params == ("policy_chosen_logps", "policy_rejected_logps", "beta")
    assert not sig.takes_self
    assert sig.docstring == "Doc line."


def test_function_named_loss_wins_among_several_public_functions():
    sig = parse_loss_source(
        "def helper(policy_chosen_logps):\n    return 0\n"
        "def loss(policy_chosen_logps, policy_rejected_logps):\n    return 0\n"
    )
    assert sig.function == "loss"


def test_several_public_functions_without_loss_is_an_error_naming_them():
    with pytest.raises(LossFileError, match=r"several public top-level functions \(first, second\)"):
        parse_loss_source(
            "def first(policy_chosen_logps):\n    return 0\ndef second(policy_chosen_logps):\n    return 0\n"
        )


def test_no_public_function_lists_what_was_found():
    with pytest.raises(LossFileError, match=r"no public top-level function \(found: _hidden\)"):
        parse_loss_source("def _hidden(policy_chosen_logps):\n    return 0\n")
    with pytest.raises(LossFileError, match=r"found: none"):
        parse_loss_source("x = 1\n")


def test_unknown_parameter_lists_the_vocabulary():
    with pytest.raises(LossFileError) as err:
        parse_loss_source("def loss(policy_chosen_logps, temperature):\n    return 0\n", "f.py")
    message = str(err.value)
    assert "f.py:1" in message and "temperature" in message
    for name in VOCABULARY:
        assert name in message


@pytest.mark.parametrize(
    "header",
    ["def loss(*policy_chosen_logps):", "def loss(policy_chosen_logps, **kw):",
     "def loss(policy_chosen_logps, *, beta):", "async def loss(policy_chosen_logps):"],
)  # fmt: skip
def test_only_plain_named_parameters_and_plain_functions(header):
    with pytest.raises(LossFileError):
        parse_loss_source(f"{header}\n    return 0\n")


def test_a_loss_must_see_the_policy():
    with pytest.raises(LossFileError, match="cannot train the policy"):
        parse_loss_source("def loss(reference_chosen_logps, beta):\n    return reference_chosen_logps\n")


def test_syntax_error_has_line_and_column():
    with pytest.raises(LossFileError, match=r"bad\.py:2:\d+: syntax error"):
        parse_loss_source("def loss(policy_chosen_logps):\n    return (\n", "bad.py")


def test_parse_never_executes(tmp_path):
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef loss(policy_chosen_logps):\n    return policy_chosen_logps\n"
    parse_loss_source(source)
    assert not marker.exists()


def test_load_loss_exposes_name_path_source_sha_and_passes_only_declared_inputs(tmp_path):
    path = write(tmp_path, "import torch.nn.functional as F\n\ndef dpo(policy_chosen_logps, policy_rejected_logps, beta):\n" + DPO_BODY, "mine.py")
    loss = load_loss(path)
    assert loss.name == "mine" and loss.path == path
    assert loss.source == path.read_text()
    assert loss.sha256 == sha256_bytes(path.read_bytes())
    batch = inputs()
    out = loss(**batch, beta=0.1)  # extra vocabulary inputs are not passed to the function
    rho = batch["policy_chosen_logps"] - batch["policy_rejected_logps"]
    torch.testing.assert_close(out, -torch.nn.functional.logsigmoid(0.1 * rho))


def test_missing_declared_input_is_a_type_error(tmp_path):
    path = write(tmp_path, "def loss(policy_chosen_logps, chosen_lengths):\n    return policy_chosen_logps / chosen_lengths\n")
    with pytest.raises(TypeError, match="chosen_lengths"):
        load_loss(path)(policy_chosen_logps=torch.ones(2))


def test_self_receives_a_read_only_object_with_beta(tmp_path):
    path = write(
        tmp_path,
        """
        import torch.nn.functional as F

        def paper_style(self, policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps):
            logits = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)
            return -F.logsigmoid(self.beta * logits)
        """,
    )
    loss = load_loss(path)
    assert loss.signature.takes_self and "self" not in loss.params
    batch = inputs()
    rho = (batch["policy_chosen_logps"] - batch["policy_rejected_logps"]) - (
        batch["reference_chosen_logps"] - batch["reference_rejected_logps"]
    )
    torch.testing.assert_close(loss(**batch, beta=0.05), -torch.nn.functional.logsigmoid(0.05 * rho))
    with pytest.raises(TypeError, match="self.beta"):
        loss(**batch)


def test_self_cannot_be_written_to(tmp_path):
    path = write(tmp_path, "def loss(self, policy_chosen_logps):\n    self.beta = 100.0\n    return policy_chosen_logps\n")
    with pytest.raises(AttributeError, match="read-only"):
        load_loss(path)(policy_chosen_logps=torch.ones(2), beta=0.1)


def test_missing_and_non_utf8_files_are_clear_errors(tmp_path):
    with pytest.raises(LossFileError, match="no such loss file"):
        load_loss(tmp_path / "absent.py")
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe\x00def loss")
    with pytest.raises(LossFileError, match="cannot decode.*save it as UTF-8"):
        load_loss(binary)


FULL_DPO = (
    "import torch.nn.functional as F\n\n\n"
    "def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):\n"
    "    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)\n"
    "    return -F.logsigmoid(beta * rho)\n"
)


def test_symlinked_loss_files_are_refused_and_never_read(tmp_path):
    from harness.lossfile import read_loss, read_loss_file

    link = tmp_path / "my_loss.py"
    link.symlink_to("/proc/self/environ")
    for reader in (read_loss, read_loss_file, load_loss):
        with pytest.raises(LossFileError, match="symbolic link") as e:
            reader(link)
        assert "PATH=" not in str(e.value)
    real = tmp_path / "real.py"
    real.write_text(FULL_DPO)
    (tmp_path / "to_real.py").symlink_to(real)
    with pytest.raises(LossFileError, match="symbolic link"):
        read_loss(tmp_path / "to_real.py")  # even a link to a good file: the file read is the file named


def test_special_and_oversized_files_are_refused(tmp_path):
    import os

    from harness.lossfile import MAX_SOURCE_BYTES, read_loss

    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    with pytest.raises(LossFileError, match="not a regular file"):
        read_loss(fifo)  # opened non-blocking: refusing it never waits for a writer
    with pytest.raises(LossFileError, match="not a regular file"):
        read_loss(tmp_path)
    big = tmp_path / "big.py"
    big.write_bytes(FULL_DPO.encode() + b"#" * MAX_SOURCE_BYTES)
    with pytest.raises(LossFileError, match="larger than"):
        read_loss(big)


def test_sources_are_utf8_only(tmp_path):
    """One text per loss file: strict UTF-8, no byte-order mark, no coding line naming another codec
    (the UTF-7 attack of issue 29 item 4 is tests/test_attack_sessions.py)."""
    from harness.lossfile import read_loss

    utf8 = tmp_path / "utf8.py"
    utf8.write_bytes("# -*- coding: utf-8 -*-\n# résumé: DPO\n".encode() + FULL_DPO.encode())
    loaded = read_loss(utf8)
    assert "résumé" in loaded.source and loaded.source.encode("utf-8") == utf8.read_bytes()
    assert loaded.sha256 == sha256_bytes(utf8.read_bytes())
    cases = {"bom.py": (b"\xef\xbb\xbf" + FULL_DPO.encode(), "byte-order mark"),
             "latin.py": (b"# -*- coding: latin-1 -*-\n# r\xe9sum\xe9: DPO\n" + FULL_DPO.encode(),
                          "declares the encoding 'iso-8859-1'"),
             "bad_codec.py": (b"# -*- coding: no-such-codec -*-\n" + FULL_DPO.encode(), "UTF-8 only"),
             "not_utf8.py": (b"# r\xe9sum\xe9\n" + FULL_DPO.encode(), "cannot decode the file")}
    for name, (data, needle) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LossFileError, match=name.replace(".", r"\.")) as info:
            read_loss(tmp_path / name)
        assert needle in str(info.value)
