"""The wire format between the trusted harness and a jailed loss worker.

A frame is ``MAGIC | u32 header length (little-endian) | JSON header | raw tensor bytes``. The header
names each tensor's dtype and shape; the payload is the tensors' little-endian bytes back to back.
Only four dtypes exist on the wire and every tensor is one-dimensional. Nothing is ever unpickled:
the worker is untrusted, so the trusted side parses a bounded JSON header and copies raw numbers.

Every size is checked before it is read (header length, tensor count, batch size), so a hostile
worker can neither make the harness allocate without bound nor hand it an object to execute.
Violations of the format raise ``WireError``; the session turns them into ``sandbox_violation``.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Callable

import torch

MAGIC = b"HSB1"
PREFIX = struct.Struct("<4sI")
MAX_HEADER_BYTES = 64 * 1024
MAX_TENSORS = 8
MAX_MESSAGE_CHARS = 8192
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
FLOAT_DTYPES = ("float32", "float64", "bfloat16")

if sys.byteorder != "little":  # raw tensor bytes are sent as-is
    raise ImportError("harness.sandbox.wire supports little-endian machines only")


class WireError(ValueError):
    """A frame breaks the wire format (size, schema, dtype or shape)."""


def encode_frame(header: dict, tensors: list[tuple[str, torch.Tensor]] = ()) -> bytes:
    """Serialise ``header`` plus 1-D tensors; adds the ``tensors`` entry to the header."""
    specs, chunks = [], []
    for name, t in tensors:
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"tensor {name!r} has dtype {t.dtype}; the wire carries {', '.join(DTYPES)}")
        if t.dim() != 1:
            raise WireError(f"tensor {name!r} has shape {tuple(t.shape)}; the wire carries 1-D tensors")
        specs.append({"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": [t.shape[0]]})
        chunks.append(t.view(torch.uint8).numpy().tobytes())
    body = json.dumps({**header, "tensors": specs}, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(body)} bytes exceeds {MAX_HEADER_BYTES}")
    return b"".join([PREFIX.pack(MAGIC, len(body)), body, *chunks])


def _tensor_specs(header: dict, max_batch: int) -> list[tuple[str, torch.dtype, int]]:
    specs = header.get("tensors")
    if not isinstance(specs, list) or len(specs) > MAX_TENSORS:
        raise WireError(f"header 'tensors' must be a list of at most {MAX_TENSORS} entries")
    out, seen = [], set()
    for s in specs:
        if not isinstance(s, dict) or set(s) != {"name", "dtype", "shape"}:
            raise WireError(f"malformed tensor entry {str(s)[:200]!r}")
        name, dtype, shape = s["name"], s["dtype"], s["shape"]
        if not isinstance(name, str) or len(name) > 64 or name in seen:
            raise WireError(f"bad or repeated tensor name {str(name)[:80]!r}")
        if dtype not in DTYPES:
            raise WireError(f"tensor {name!r}: dtype {str(dtype)[:40]!r} is not one of {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and len(shape) == 1 and type(shape[0]) is int):
            raise WireError(f"tensor {name!r}: shape {str(shape)[:80]} is not a 1-D shape")
        if not 1 <= shape[0] <= max_batch:
            raise WireError(f"tensor {name!r}: length {shape[0]} outside 1..{max_batch}")
        seen.add(name)
        out.append((name, DTYPES[dtype], shape[0]))
    return out


def read_frame(read_exact: Callable[[int], bytes], max_batch: int) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read one frame with ``read_exact(n)`` (which returns exactly n bytes or raises)."""
    magic, length = PREFIX.unpack(read_exact(PREFIX.size))
    if magic != MAGIC:
        raise WireError(f"bad frame start {magic!r} (expected {MAGIC!r}); the stream is corrupt")
    if length > MAX_HEADER_BYTES:
        raise WireError(f"header length {length} exceeds {MAX_HEADER_BYTES} bytes")
    try:
        header = json.loads(read_exact(length).decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise WireError("header must be a JSON object with a string 'kind'")
    tensors = {}
    for name, dtype, n in _tensor_specs(header, max_batch):
        raw = bytearray(read_exact(n * dtype.itemsize))
        tensors[name] = torch.frombuffer(raw, dtype=torch.uint8).view(dtype)
    return header, tensors


def _no_constants(name: str):
    raise WireError(f"header contains {name}; JSON numbers must be finite")


def check_message(header: dict) -> str:
    """The text of an ``error`` frame, bounded."""
    msg = header.get("message")
    if not isinstance(msg, str):
        raise WireError("error frame without a string 'message'")
    return msg[-MAX_MESSAGE_CHARS:]


def check_float(header: dict, key: str) -> float:
    value = header.get(key)
    if type(value) not in (int, float) or not math.isfinite(value):
        raise WireError(f"header field {key!r} must be a finite number, got {str(value)[:40]!r}")
    return float(value)
