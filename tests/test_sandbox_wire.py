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
    read_exact, _ = _reader(wire.encode_frame({"kind": "call", "beta": 0.1, "grad": True}, tensors))
    header, got = wire.read_frame(read_exact, max_batch=8)
    assert header["kind"] == "call" and header["beta"] == 0.1
    for name, t in tensors:
        assert got[name].dtype == t.dtype and torch.equal(got[name], t)


@pytest.mark.parametrize(
    "tensors",
    [[("x", torch.ones(2, dtype=torch.float16))], [("x", torch.ones(2, 2, 2))], [("x", torch.tensor(1.0))]],
)
def test_encode_refuses_other_dtypes_and_shapes(tensors):
    with pytest.raises(wire.WireError):
        wire.encode_frame({"kind": "call"}, tensors)


def test_per_token_tensors_round_trip_with_bool_masks():
    logps = -torch.rand(3, 5, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    frame = wire.encode_frame({"kind": "call", "beta": 0.1, "grad": True, "hyper": {"tau": 0.05}},
                              [("t", logps), ("m", mask), ("s", logps.sum(-1))])
    read_exact, _ = _reader(frame)
    header, got = wire.read_frame(read_exact, max_batch=8)
    assert header["hyper"] == {"tau": 0.05}
    assert torch.equal(got["t"], logps) and torch.equal(got["m"], mask) and got["s"].shape == (3,)


def test_a_bool_byte_other_than_0_or_1_is_refused():
    frame = bytearray(wire.encode_frame({"kind": "reply"}, [("m", torch.ones(4, dtype=torch.bool))]))
    frame[-1] = 7
    read_exact, _ = _reader(bytes(frame))
    with pytest.raises(wire.WireError, match="bool bytes"):
        wire.read_frame(read_exact, max_batch=8)


def test_a_reply_larger_than_the_caller_allows_is_refused_before_it_is_read():
    frame = wire.encode_frame({"kind": "reply"}, [("losses", torch.zeros(8, 100))])
    read_exact, reads = _reader(frame)
    with pytest.raises(wire.WireError, match="more than the 64 allowed"):
        wire.read_frame(read_exact, max_batch=8, max_bytes=64)
    assert sum(reads) < len(frame) - 3000  # the payload was never read


def test_giant_header_is_refused_before_it_is_read():
    read_exact, reads = _reader(wire.PREFIX.pack(wire.MAGIC, 0xFFFFFFFF) + b"x" * 100)
    with pytest.raises(wire.WireError, match="header length"):
        wire.read_frame(read_exact, max_batch=8)
    assert reads == [1, wire.PREFIX.size - 1]


def test_pickle_is_never_unpickled():
    import pickle

    read_exact, _ = _reader(pickle.dumps({"kind": "reply"}) + b"\0" * 64)
    with pytest.raises(wire.WireError, match="bad frame start"):
        wire.read_frame(read_exact, max_batch=8)


@pytest.mark.parametrize(
    "header, match",
    [
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float16", "shape": [2]}]}, "dtype"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [2, 2, 2]}]}, r"\(B, T\) shape"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [2, 0]}]}, "tokens per row"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [2, wire.MAX_TOKENS + 1]}]},
         "tokens per row"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [9]}]}, "outside"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [0]}]}, "outside"),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [True]}]}, r"\(B,\)"),
        (
            {"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [1], "x": 1}]},
            "malformed",
        ),
        ({"kind": "reply", "tensors": [{"name": "l", "dtype": "float32", "shape": [1]}] * 2}, "repeated"),
        (
            {
                "kind": "reply",
                "tensors": [{"name": str(i), "dtype": "int64", "shape": [1]} for i in range(wire.MAX_TENSORS + 1)],
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


SPEC = {"name": "losses", "dtype": "float32", "shape": [2]}
MALFORMED_BODIES = {
    "not utf-8": b'{"kind": "reply\xff", "tensors": []}',
    "not json": b"\x80\x04not json",
    "NaN": b'{"kind": "reply", "x": NaN, "tensors": []}',
    "Infinity": b'{"kind": "reply", "x": Infinity, "tensors": []}',
    "-Infinity": b'{"kind": "reply", "x": -Infinity, "tensors": []}',
    "float overflow": b'{"kind": "reply", "x": 1e400, "tensors": []}',
    "401-digit integer": b'{"kind": "hello", "seccomp": ' + b"9" * 401 + b', "tensors": []}',
    "5000-digit integer": b'{"kind": "reply", "x": ' + b"9" * 5000 + b', "tensors": []}',
    "huge shape": json.dumps({"kind": "reply", "tensors": [{**SPEC, "shape": [10**30]}]}).encode(),
    "60000 deep": b'{"kind": "reply", "x": ' + b"[" * 30000 + b"]" * 30000 + b', "tensors": []}',
    "5 deep": b'{"kind": "reply", "x": [[[[1]]]], "tensors": []}',
    "dtype list": json.dumps({"kind": "reply", "tensors": [{**SPEC, "dtype": ["float32"]}]}).encode(),
    "name dict": json.dumps({"kind": "reply", "tensors": [{**SPEC, "name": {}}]}).encode(),
    "tensors string": b'{"kind": "reply", "tensors": "losses"}',
    "no tensors": b'{"kind": "reply"}',
    "kind list": b'{"kind": ["reply"], "tensors": []}',
    "unknown kind": b'{"kind": "replay", "tensors": []}',
    "extra field": b'{"kind": "reply", "seconds": 0.0, "tensors": []}',
    "duplicate key": b'{"kind": "reply", "kind": "error", "tensors": []}',
    "status list": b'{"kind": "error", "status": ["invalid"], "message": "m", "tensors": []}',
    "status unknown": b'{"kind": "error", "status": "ok", "message": "m", "tensors": []}',
    "message int": b'{"kind": "error", "status": "invalid", "message": 7, "tensors": []}',
    "message huge": json.dumps({"kind": "error", "status": "invalid", "message": "m" * 9000, "tensors": []}).encode(),
    "params dicts": b'{"kind": "hello", "name": "n", "sha256": "' + b"0" * 64
    + b'", "params": [{}], "seccomp": 2, "tensors": []}',
    "sha256 int": b'{"kind": "hello", "name": "n", "sha256": 1, "params": [], "seccomp": 2, "tensors": []}',
    "beta string": b'{"kind": "call", "beta": "0.1", "grad": true, "tensors": []}',
    "grad int": b'{"kind": "call", "beta": 0.1, "grad": 1, "tensors": []}',
    "hyper list": b'{"kind": "call", "beta": 0.1, "grad": true, "hyper": [1], "tensors": []}',
    "hyper string value": b'{"kind": "call", "beta": 0.1, "grad": true, "hyper": {"tau": "1"}, "tensors": []}',
    "hyper bool value": b'{"kind": "call", "beta": 0.1, "grad": true, "hyper": {"tau": true}, "tensors": []}',
    "hyper on a reply": b'{"kind": "reply", "hyper": {}, "tensors": []}',
    "array": b"[1, 2]",
}


@pytest.mark.parametrize("what", sorted(MALFORMED_BODIES))
def test_every_malformed_header_is_a_wire_error(what):
    """Every kind of malformed header raises WireError, never OverflowError, TypeError, RecursionError,
    UnicodeDecodeError or ValueError of the parser (the trusted side turns it into sandbox_violation)."""
    body = MALFORMED_BODIES[what]
    assert len(body) <= wire.MAX_HEADER_BYTES
    read_exact, _ = _reader(wire.PREFIX.pack(wire.MAGIC, len(body)) + body + b"\0" * 64)
    with pytest.raises(wire.WireError):
        wire.read_frame(read_exact, max_batch=8)


def test_depth_is_bounded_before_parsing(monkeypatch):
    monkeypatch.setattr(wire.json, "loads", lambda *a, **k: pytest.fail("parsed a too-deep header"))
    with pytest.raises(wire.WireError, match="nests deeper"):
        wire.parse_header(MALFORMED_BODIES["60000 deep"])
    # brackets inside strings are text, not nesting
    monkeypatch.undo()
    header = wire.parse_header(b'{"kind": "error", "status": "invalid", "message": "[[[[[[{{{", "tensors": []}')
    assert header["message"] == "[[[[[[{{{"


@pytest.mark.parametrize("cut", [5, 8, 12, 30])
def test_a_stream_that_ends_inside_a_frame_is_a_truncated_frame(cut):
    frame = wire.encode_frame({"kind": "reply"}, [("losses", torch.ones(2))])
    read_exact, _ = _reader(frame[:cut])
    with pytest.raises(wire.TruncatedFrame):
        wire.read_frame(read_exact, max_batch=8)
    read_exact, _ = _reader(b"")
    with pytest.raises(EOFError):  # no byte at all: the peer closed the stream, not a broken frame
        wire.read_frame(read_exact, max_batch=8)


def test_every_frame_the_harness_writes_passes_its_own_schema():
    hello = {"kind": "hello", "name": "x", "sha256": "a" * 64, "params": ["beta"], "seccomp": 2}
    frames = [
        hello,
        {"kind": "call", "beta": 0.1, "grad": True},
        {"kind": "call", "beta": 0.1, "grad": True, "hyper": {"tau": 0.5, "k": 3}},
        {"kind": "reply"},
        {"kind": "error", "status": "oom", "message": "m"},
        {"kind": "close"},
    ]
    for header in frames:
        read_exact, _ = _reader(wire.encode_frame(header))
        assert wire.read_frame(read_exact, max_batch=8)[0]["kind"] == header["kind"]


@pytest.mark.parametrize(
    "how, number, status, text",
    [
        ("signal", 31, "sandbox_violation", "SIGSYS"),
        ("signal", 24, "timeout", "CPU"),
        ("signal", 9, "oom", "SIGKILL"),
        ("signal", 11, "crash", "SIGSEGV"),
        ("signal", 6, "crash", "SIGABRT"),
        ("exit", 159, "crash", "code 159"),  # 128 + SIGSYS, chosen by the loss: an exit, not a kill
        ("exit", 137, "crash", "code 137"),
        ("exit", 152, "crash", "code 152"),
        ("exit", 1, "crash", "code 1"),
        ("exit", 0, "crash", "code 0"),
    ],
)
def test_exit_classification(how, number, status, text):
    got_status, reason = classify_exit(how, number)
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


def test_an_expanded_batch_statistic_round_trips():
    # sft's loss is one batch statistic expanded to (B,): at B=1 torch calls it contiguous with stride 0
    for shape in ((1,), (3,), (1, 4)):
        t = torch.tensor(2.5).expand(*shape)
        read_exact, _ = _reader(wire.encode_frame({"kind": "reply"}, [("x", t)]))
        _, got = wire.read_frame(read_exact, max_batch=8)
        assert torch.equal(got["x"], t.contiguous())
