"""The wire format between the trusted harness and a jailed loss worker.

A frame is ``MAGIC | u32 header length (little-endian) | JSON header | raw tensor bytes``. The header
names each tensor's dtype and shape; the payload is the tensors' little-endian bytes back to back.
Only five dtypes exist on the wire and every tensor is (B,) or, for the per-token vocabulary,
(B, T). Nothing is ever unpickled: the worker is untrusted, so the trusted side parses a bounded JSON
header and copies raw numbers.

Every size is checked before it is read (header length, tensor count, batch size, tokens per row,
the payload's total bytes), so a hostile worker can neither make the harness allocate without bound
nor hand it an object to execute; the trusted side bounds a reply by what it sent (``max_bytes``).
Violations of the format raise ``WireError``; the session turns them into ``sandbox_violation``.
"""

from __future__ import annotations

import json
import math
import re
import struct
import sys
from collections.abc import Callable

import torch

MAGIC = b"HSB1"
PREFIX = struct.Struct("<4sI")
MAX_HEADER_BYTES = 64 * 1024
MAX_TENSORS = 24  # the vocabulary's tensors (harness.vocabulary: 16), or a reply's losses and gradients
MAX_TOKENS = 8192  # longest completion T a per-token tensor may carry
MAX_HYPERPARAMETERS = 16
MAX_MESSAGE_CHARS = 8192
MAX_DEPTH = 4  # the deepest legitimate header: {"tensors": [{"shape": [n]}]} is 3
MAX_INT_DIGITS = 19  # int64
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "bool": torch.bool,
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
        if t.dim() and t.numel() and t.stride(-1) != 1:  # size-1 dims count as contiguous at any stride (an expand)
            t = torch.empty(t.shape, dtype=t.dtype).copy_(t)
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"tensor {name!r} has dtype {t.dtype}; the wire carries {', '.join(DTYPES)}")
        if t.dim() not in (1, 2):
            raise WireError(f"tensor {name!r} has shape {tuple(t.shape)}; the wire carries (B,) and (B, T) tensors")
        specs.append({"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape)})
        chunks.append(t.view(torch.uint8).numpy().tobytes())
    body = json.dumps({**header, "tensors": specs}, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(body)} bytes exceeds {MAX_HEADER_BYTES}")
    return b"".join([PREFIX.pack(MAGIC, len(body)), body, *chunks])


def _tensor_specs(header: dict, max_batch: int, max_tokens: int,
                  max_bytes: int | None) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    specs = header.get("tensors")
    if not isinstance(specs, list) or len(specs) > MAX_TENSORS:
        raise WireError(f"header 'tensors' must be a list of at most {MAX_TENSORS} entries")
    out, seen, total = [], set(), 0
    for s in specs:
        if not isinstance(s, dict) or set(s) != {"name", "dtype", "shape"}:
            raise WireError(f"malformed tensor entry {str(s)[:200]!r}")
        name, dtype, shape = s["name"], s["dtype"], s["shape"]
        if not isinstance(name, str) or len(name) > 64 or name in seen:
            raise WireError(f"bad or repeated tensor name {str(name)[:80]!r}")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise WireError(f"tensor {name!r}: dtype {str(dtype)[:40]!r} is not one of {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and 1 <= len(shape) <= 2 and type(shape[0]) is int
                and type(shape[-1]) is int):
            raise WireError(f"tensor {name!r}: shape {str(shape)[:80]} is not a (B,) or (B, T) shape")
        if not 1 <= shape[0] <= max_batch:
            raise WireError(f"tensor {name!r}: length {shape[0]} outside 1..{max_batch}")
        count = shape[0]
        if len(shape) == 2:
            if not 1 <= shape[1] <= max_tokens:
                raise WireError(f"tensor {name!r}: {shape[1]} tokens per row, outside 1..{max_tokens}")
            count *= shape[1]
        seen.add(name)
        torch_dtype = DTYPES[dtype]
        total += count * torch_dtype.itemsize
        out.append((name, torch_dtype, tuple(shape)))
    limit = max_bytes if max_bytes is not None else MAX_TENSORS * max_batch * max_tokens * 8
    if total > limit:
        raise WireError(f"the frame's tensors take {total} bytes, more than the {limit} allowed")
    return out


def read_frame(read_exact: Callable[[int], bytes], max_batch: int, max_tokens: int = MAX_TOKENS,
               max_bytes: int | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read one frame with ``read_exact(n)`` (which returns exactly n bytes or raises).

    Tensors are (B,) with B <= ``max_batch``, or (B, T) with T <= ``max_tokens``; their payload takes at
    most ``max_bytes`` (default: MAX_TENSORS full-size float64 tensors).

    Raises WireError for anything that breaks the format, whatever its kind (size, nesting, encoding,
    number range, schema): a malformed frame is a protocol violation, never a crash of the reader.
    ``EOFError`` from ``read_exact`` before the first byte means the peer closed the stream; a stream
    that ends inside a frame raises ``TruncatedFrame``.
    """
    first = read_exact(1)  # EOFError here: the stream ended between frames
    try:
        magic, length = PREFIX.unpack(first + read_exact(PREFIX.size - 1))
    except EOFError:
        raise TruncatedFrame("the stream ended inside a frame's prefix (truncated frame)") from None
    if magic != MAGIC:
        raise WireError(f"bad frame start {magic!r} (expected {MAGIC!r}); the stream is corrupt")
    if length > MAX_HEADER_BYTES:
        raise WireError(f"header length {length} exceeds {MAX_HEADER_BYTES} bytes")
    try:
        header = parse_header(read_exact(length))
        tensors = {}
        for name, dtype, shape in _tensor_specs(header, max_batch, max_tokens, max_bytes):
            count = shape[0] if len(shape) == 1 else shape[0] * shape[1]
            data = torch.frombuffer(bytearray(read_exact(count * dtype.itemsize)), dtype=torch.uint8)
            if dtype is torch.bool and bool((data > 1).any()):  # any other byte is not a torch bool
                raise WireError(f"tensor {name!r}: bool bytes other than 0 and 1")
            tensors[name] = data.view(dtype) if len(shape) == 1 else data.view(dtype).view(shape)
    except EOFError:
        raise TruncatedFrame("the stream ended inside a frame (truncated frame)") from None
    except (TypeError, ValueError, OverflowError, RecursionError, KeyError) as e:
        if isinstance(e, WireError):
            raise
        # the checks above are meant to leave nothing for here; any slip is still the peer's violation
        raise WireError(f"malformed header: {type(e).__name__}: {str(e)[:200]}") from None
    return header, tensors


class TruncatedFrame(WireError):
    """The stream ended after a frame began."""


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects, counted outside strings, without parsing."""
    depth = deepest = 0
    for b in _BRACKETS.findall(_STRINGS.sub('""', text)):
        depth += 1 if b in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constants(name: str):
    raise WireError(f"header contains {name}; JSON numbers must be finite")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise WireError(f"integer of {len(text)} digits in the header (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError(f"number {text[:40]!r} in the header overflows; JSON numbers must be finite")
    return value


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise WireError("header object repeats a key")
    return dict(pairs)


def parse_header(raw: bytes) -> dict:
    """The header's JSON, checked for depth and number range BEFORE parsing, then against SCHEMAS."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError(f"header is not UTF-8: {e}") from None
    if _depth(text) > MAX_DEPTH:
        raise WireError(f"header nests deeper than {MAX_DEPTH} levels")
    try:
        header = json.loads(
            text,
            parse_constant=_no_constants,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except WireError:
        raise
    except (ValueError, RecursionError, OverflowError, TypeError) as e:
        raise WireError(f"header is not JSON: {str(e)[:200]}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise WireError("header must be a JSON object with a string 'kind'")
    _check_schema(header)
    return header


def _is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _is_text(limit: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and len(v) <= limit


def _is_params(v) -> bool:
    return isinstance(v, list) and len(v) <= MAX_TENSORS and all(isinstance(p, str) and len(p) <= 64 for p in v)


def _is_hyper(v) -> bool:
    """Hyper-parameter values of a call: {name: finite number}, checked against their ranges before sending."""
    return (isinstance(v, dict) and len(v) <= MAX_HYPERPARAMETERS
            and all(isinstance(k, str) and len(k) <= 64 and _is_number(x) for k, x in v.items()))


# Every frame kind and the exact set of fields it carries (besides "kind" and "tensors", which
# _tensor_specs checks): a field that is missing, extra or of the wrong type is a violation.
SCHEMAS: dict[str, dict[str, Callable[[object], bool]]] = {
    "hello": {
        "name": _is_text(1024),
        "sha256": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
        "params": _is_params,
        "seccomp": lambda v: type(v) is int and -1 <= v <= 2,
    },
    "call": {"beta": _is_number, "grad": lambda v: type(v) is bool, "hyper": _is_hyper},
    "reply": {},
    "error": {"status": lambda v: v in ("invalid", "oom"), "message": _is_text(MAX_MESSAGE_CHARS)},
    "close": {},
}


# Fields a frame may leave out: a call to a loss without hyper-parameters carries no "hyper", so the
# sequence-level frames are byte for byte what they were before hyper-parameters existed.
OPTIONAL: dict[str, frozenset] = {"call": frozenset({"hyper"})}


def _check_schema(header: dict) -> None:
    kind = header["kind"]
    fields = SCHEMAS.get(kind)
    if fields is None:
        raise WireError(f"unknown frame kind {kind[:40]!r}")
    got = set(header) - {"kind", "tensors"}
    optional = OPTIONAL.get(kind, frozenset())
    if not set(fields) - optional <= got <= set(fields):
        extra, missing = sorted(got - set(fields)), sorted(set(fields) - optional - got)
        raise WireError(f"{kind!r} frame: unexpected fields {extra[:8]}, missing fields {missing}"[:300])
    for key, ok in fields.items():
        if key in header and not ok(header[key]):
            raise WireError(f"{kind!r} frame: field {key!r} has a bad type or value {str(header[key])[:40]!r}")


def check_message(header: dict) -> str:
    """The text of an ``error`` frame, bounded."""
    msg = header.get("message")
    if not isinstance(msg, str):
        raise WireError("error frame without a string 'message'")
    return msg[-MAX_MESSAGE_CHARS:]
