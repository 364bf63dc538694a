"""The sandbox's trusted-side checks that need no jail: wire format, exit classification, backend choice."""

from __future__ import annotations

import io
import json
import struct

import pytest
import torch

from harness.registry import UnknownNameError
from harness.sandbox import BACKENDS, SandboxLimits, SandboxUnavailable, open_session, seccomp, wire
from harness.sandbox.client import classify_exit
from harness.session import InProcessSession, LossCallError

DPO = "losses/dpo.py"


def _reader(data: bytes):
    stream = io.BytesIO(data)
    reads = []

    def read_exact(n):
        reads.append(n)
        chunk = stream.read(n)
        if len(chunk) != n:
            raise EOFError
        return chunk

    return read_exact, reads


def _frame(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return wire.PREFIX.pack(wire.MAGIC, len(body)) + body + payload


def test_round_trip_every_dtype():
    tensors = [
        ("a", torch.tensor([1.5, -2.25], dtype=torch.float32)),
        ("b", torch.tensor([1e-300, 3.0], dtype=torch.float64)),
        ("c", torch.tensor([0.5, 7.0], dtype=torch.bfloat16)),
        ("d", torch.tensor([3, -(2**40)], dtype=torch.int64)),
    ]
    read_exact, _ = _reader(wire.encode_frame({"kind": "call", "beta": 0.1}, tensors))
    header, got = wire.read_frame(read_exact, max_batch=8)
    assert header["kind"] == "call" and header["beta"] == 0.1
    for name, t in tensors:
        assert got[name].dtype == t.dtype and torch.equal(got[name], t)


@pytest.mark.parametrize(
    "tensors",
    [[("x", torch.ones(2, dtype=torch.float16))], [("x", torch.ones(2, 2))], [("x", torch.tensor(1.0))]],
)
def test_encode_refuses_other_dtypes_and_shapes(tensors):
    with pytest.raises(wire.WireError):
        wire.encode_frame({"kind": "call"}, tensors)


def test_giant_header_is_refused_before_it_is_read():
    read_exact, reads = _reader(wire.PREFIX.pack(wire.MAGIC, 0xFFFFFFFF) + b"x" * 100)
    with pytest.raises(wire.WireError, match="header length"):
        wire.read_frame(read_exact, max_batch=8)
    assert reads == [wire.PREFIX.size]


def test_pickle_is_never_unpickled():
    import pickle

    read_exact, _ = _reader(pickle.dumps({"kind": "reply"}) + b"\0" * 64)
    with pytest.raises(wire.WireError, match="bad frame start"):
        wire.read_frame(read_exact, max_batch=8)


@pytest.mark.parametrize(
    "header, match",
    [
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float16", "shape": [2]}]}, "dtype"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [2, 2]}]}, "1-D"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [9]}]}, "outside"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [0]}]}, "outside"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [True]}]}, "1-D"),
        (
            {"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [1], "x": 1}]},
            "malformed",
        ),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [1]}] * 2}, "repeated"),
        (
            {
                "kind": "reply",
                "tensors": [{"name": str(i), "dtype": "int64", "shape": [1]} for i in range(9)],
            },
            "at most",
        ),
        ({"kind": 3, "tensors": []}, "kind"),
    ],
)
def test_malformed_headers_are_refused(header, match):
    read_exact, _ = _reader(_frame(header, b"\0" * 1024))
    with pytest.raises(wire.WireError, match=match):
        wire.read_frame(read_exact, max_batch=8)


def test_non_json_and_nan_headers_are_refused():
    for body in (b"\x80\x04not json", b'{"kind": "reply", "seconds": NaN, "tensors": []}'):
        read_exact, _ = _reader(wire.PREFIX.pack(wire.MAGIC, len(body)) + body)
        with pytest.raises(wire.WireError):
            wire.read_frame(read_exact, max_batch=8)
    with pytest.raises(wire.WireError, match="finite"):
        wire.check_float({"seconds": float("inf")}, "seconds")


@pytest.mark.parametrize(
    "rc, status, text",
    [
        (159, "sandbox_violation", "seccomp"),
        (-31, "sandbox_violation", "SIGSYS"),
        (152, "timeout", "CPU"),
        (137, "oom", "SIGKILL"),
        (139, "crash", "SIGSEGV"),
        (-6, "crash", "SIGABRT"),
        (1, "crash", "code 1"),
        (0, "crash", "code 0"),
    ],
)
def test_exit_classification(rc, status, text):
    got_status, reason = classify_exit(rc)
    assert got_status == status and text in reason


def test_backend_registry_and_refusals(monkeypatch):
    assert BACKENDS.names() == ["docker", "jail", "none"]
    with pytest.raises(SandboxUnavailable, match="trust=True"):
        open_session(DPO, backend="none")
    with pytest.raises(UnknownNameError, match="Did you mean 'jail'"):
        open_session(DPO, backend="jial")
    import harness.sandbox.jail as jail

    monkeypatch.setattr(jail, "usable", lambda: (False, "bubblewrap (bwrap) is not installed"))
    with pytest.raises(SandboxUnavailable, match="never run in-process"):
        open_session(DPO)


def test_trusted_in_process_backend():
    with open_session(DPO, backend="none", trust=True) as session:
        assert isinstance(session, InProcessSession) and session.name == "dpo"
        reply = session.call({n: -torch.rand(3) for n in session.params if n != "beta"}, beta=0.1)
        assert reply.losses.shape == (3,) and set(reply.grads) == {
            "policy_chosen_logps",
            "policy_rejected_logps",
        }


def test_contract_errors_are_invalid_before_any_jail_starts(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def loss(policy_chosen_logps:\n")
    with pytest.raises(LossCallError) as info:
        open_session(bad, backend="jail")
    assert info.value.status == "invalid" and "syntax error" in info.value.message


def test_limits_are_validated():
    with pytest.raises(ValueError, match="memory_bytes"):
        SandboxLimits(memory_bytes=0)
    with pytest.raises(ValueError, match="stderr_tail_bytes"):
        SandboxLimits(stderr_bytes=10, stderr_tail_bytes=100)


def test_seccomp_program_shape():
    program = seccomp.build_program("x86_64")
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    first = struct.unpack("<HBBI", program[8:16])
    assert first[3] == 0xC000003E  # the architecture is checked before any system call number
    assert len(seccomp.build_program("aarch64")) % 8 == 0
    with pytest.raises(seccomp.SeccompUnavailable, match="riscv64"):
        seccomp.build_program("riscv64")
