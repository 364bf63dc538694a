"""Threat: crash the trusted side with a malformed reply frame (variant @VARIANT@). The loss runs in
the worker's interpreter, so it replaces the worker's own frame writer: every reply it sends is the
variant's bytes. The harness must see a protocol violation, never an OverflowError, TypeError,
RecursionError or UnicodeDecodeError of its own."""

import json
import os
import struct
import sys

VARIANT = "@VARIANT@"
MAGIC = b"HSB1"
SPEC = {"name": "losses", "dtype": "float32", "shape": [4]}


def _frame(body: bytes, payload: bytes = b"\0" * 16) -> bytes:
    return MAGIC + struct.pack("<I", len(body)) + body + payload


def _json(header) -> bytes:
    return json.dumps(header).encode()


BODIES = {
    "huge_int": lambda: _json({"kind": "reply", "seconds": 10**400, "tensors": [SPEC]}),
    "huge_int_shape": lambda: _json({"kind": "reply", "tensors": [{**SPEC, "shape": [10**30]}]}),
    "float_overflow": lambda: b'{"kind": "reply", "x": 1e999, "tensors": []}',
    "nan": lambda: b'{"kind": "reply", "x": NaN, "tensors": []}',
    "infinity": lambda: b'{"kind": "reply", "x": -Infinity, "tensors": []}',
    "dtype_list": lambda: _json({"kind": "reply", "tensors": [{**SPEC, "dtype": ["float32"]}]}),
    "name_dict": lambda: _json({"kind": "reply", "tensors": [{**SPEC, "name": {"a": 1}}]}),
    "tensors_str": lambda: _json({"kind": "reply", "tensors": "losses"}),
    "kind_list": lambda: _json({"kind": ["reply"], "tensors": []}),
    "error_status_list": lambda: _json({"kind": "error", "status": ["invalid"], "message": "x", "tensors": []}),
    "error_message_int": lambda: _json({"kind": "error", "status": "invalid", "message": 7, "tensors": []}),
    "extra_field": lambda: _json({"kind": "reply", "seconds": 0.0, "tensors": [SPEC]}),
    "duplicate_key": lambda: b'{"kind": "reply", "kind": "error", "tensors": []}',
    "deep_nesting": lambda: b'{"kind": "reply", "x": ' + b"[" * 32000 + b"]" * 32000 + b', "tensors": []}',
    "nesting_5": lambda: b'{"kind": "reply", "x": [[[[1]]]], "tensors": []}',
    "invalid_utf8": lambda: b'{"kind": "reply\xff\xfe", "tensors": []}',
    "not_object": lambda: b"[1, 2, 3]",
    "truncated": lambda: b"",
}


def _evil_write(fd: int, data: bytes) -> None:
    if VARIANT == "truncated":  # a frame that promises 1 KiB of header, sends 10 bytes and stops
        os.write(fd, MAGIC + struct.pack("<I", 1024) + b'{"kind": "')
        os._exit(0)
    body = BODIES[VARIANT]()
    os.write(fd, _frame(body))


def loss(policy_chosen_logps, policy_rejected_logps):
    worker = sys.modules["__main__"]  # the worker runs as __main__; its serve() looks _write_all up here
    worker._write_all = _evil_write
    return policy_rejected_logps - policy_chosen_logps
