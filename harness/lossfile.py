"""The loss file contract: one small pure function with a fixed vocabulary of inputs.

A loss file is a Python file that defines exactly one loss function: the single public top-level
function, or the one named ``loss`` when there are several. Its parameters come from VOCABULARY
(harness.vocabulary: sequence inputs, and opt-in per-token ones) and the harness passes only the ones
it declares; any other parameter is a hyper-parameter with a default and a declared range
(harness.hyperparams). A leading ``self`` receives a read-only object with ``.beta`` so that code
written for the DiscoPOP paper's interface runs unchanged. It returns per-example losses of shape
(B,); the trainer takes the mean. A file may instead combine built-in losses with weights, TRL's
``loss_type`` list and ``loss_weights`` (harness.combination), and define no function at all.

``parse_loss_source`` only reads the syntax tree (safe for untrusted files). ``load_loss`` executes
the file in the calling process and is therefore for trusted files only (built-ins, tests): untrusted
files run inside the sandbox (harness.sandbox), whose worker calls ``load_loss`` inside the jail.
"""

from __future__ import annotations

import ast
import codecs
import errno
import hashlib
import inspect
import io
import os
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path

from harness import combination
from harness.hyperparams import HyperparameterError, declared
from harness.vocabulary import (  # noqa: F401  (re-exported: the documented names)
    DIFFERENTIABLE,
    POLICY_INPUTS,
    TENSOR_INPUTS,
    VOCABULARY,
)

MAX_SOURCE_BYTES = 200_000


class LossFileError(ValueError):
    """A loss file breaks the contract. The message names the problem and the fix."""


@dataclass(frozen=True)
class LossSignature:
    """What the syntax tree says about a loss file, without executing it."""

    function: str
    params: tuple[str, ...]  # vocabulary names, in declaration order (``self`` excluded)
    takes_self: bool
    docstring: str
    hyperparameters: tuple = ()  # harness.hyperparams.Hyperparameter, in declaration order
    combination: tuple = ()  # ((built-in name, weight), ...) for a loss_type list (harness.combination)

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_loss_source(source: str, filename: str = "<loss>") -> LossSignature:
    """Check the structure of a loss file from its source; raise LossFileError when it is broken."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise LossFileError(f"{filename}: file is larger than {MAX_SOURCE_BYTES} bytes; a loss is a few lines")
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        raise LossFileError(f"{filename}:{e.lineno}:{e.offset}: syntax error: {e.msg}") from None
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    public = [f for f in functions if not f.name.startswith("_")]
    named_loss = [f for f in functions if f.name == "loss"]
    if not public and not named_loss and combination.is_combination(tree):
        return combination_signature(tree, filename)
    if named_loss:
        fn = named_loss[0]
    elif len(public) == 1:
        fn = public[0]
    elif not public:
        found = ", ".join(f.name for f in functions) or "none"
        raise LossFileError(
            f"{filename}: no public top-level function (found: {found}). "
            "Define one function, e.g. `def loss(policy_chosen_logps, ...)`, or combine built-ins with "
            "`LOSS_TYPE = [\"sigmoid\", \"sft\"]`."
        )
    else:
        raise LossFileError(
            f"{filename}: several public top-level functions ({', '.join(f.name for f in public)}); "
            "name the loss function `loss` or prefix helpers with an underscore."
        )
    if isinstance(fn, ast.AsyncFunctionDef):
        raise LossFileError(f"{filename}:{fn.lineno}: `{fn.name}` is async; a loss is a plain function")
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise LossFileError(
            f"{filename}:{fn.lineno}: `{fn.name}` may only take plain named parameters from: "
            f"{', '.join(VOCABULARY)}, and hyper-parameters with defaults"
        )
    names = [a.arg for a in args.args]
    takes_self = bool(names) and names[0] == "self"
    named = names[1:] if takes_self else names
    with_default = {a.arg for a in args.args[len(args.args) - len(args.defaults):]}
    unknown = [p for p in named if p not in VOCABULARY and p not in with_default]
    if unknown:
        raise LossFileError(
            f"{filename}:{fn.lineno}: unknown parameter(s) {', '.join(unknown)} of `{fn.name}`. "
            f"Parameters must come from: {', '.join(VOCABULARY)}; a hyper-parameter needs a default "
            "(tau=0.05) and a range in HYPERPARAMETERS = {\"tau\": (0.0, 1.0)}"
        )
    params = tuple(p for p in named if p in VOCABULARY)
    try:
        hyper = declared(tree, fn, [p for p in named if p not in VOCABULARY])
    except HyperparameterError as e:
        raise LossFileError(f"{filename}:{fn.lineno}: {e}") from None
    if not any(p in DIFFERENTIABLE for p in params):
        raise LossFileError(
            f"{filename}:{fn.lineno}: `{fn.name}` takes no input that depends on the policy "
            f"({', '.join(DIFFERENTIABLE)}), so it cannot train the policy"
        )
    return LossSignature(fn.name, params, takes_self, ast.get_docstring(fn) or "", hyper)


class _Self:
    """The read-only ``self`` passed to paper-style losses (``self.beta``)."""

    __slots__ = ("_beta",)

    def __init__(self, beta: float):
        object.__setattr__(self, "_beta", float(beta))

    @property
    def beta(self) -> float:
        return self._beta

    def __setattr__(self, name, value):
        raise AttributeError("the loss's `self` is read-only")


class Loss:
    """A loaded loss file: ``loss(**inputs)`` takes keyword tensors and ``beta``, returns (B,)."""

    def __init__(self, path: Path, source: str, data: bytes, signature: LossSignature, fn):
        self.path = path
        self.source = source
        self.sha256 = sha256_bytes(data)
        self.signature = signature
        self.name = path.stem
        self._fn = fn

    @property
    def params(self) -> tuple[str, ...]:
        return self.signature.params

    @property
    def hyperparameters(self) -> tuple:
        return self.signature.hyperparameters

    def __call__(self, **inputs):
        """The loss on keyword ``inputs`` (vocabulary tensors, ``beta``, and any hyper-parameter values;
        a hyper-parameter left out takes its declared default)."""
        missing = [p for p in self.params if p not in inputs]
        if missing:
            raise TypeError(f"loss {self.name!r} needs {', '.join(missing)}")
        beta = inputs.get("beta")
        if self.signature.takes_self and beta is None:
            raise TypeError(f"loss {self.name!r} uses self.beta; pass beta=")
        kwargs = {p: inputs[p] for p in self.params}
        kwargs.update({h.name: inputs[h.name] for h in self.hyperparameters if h.name in inputs})
        if self.signature.takes_self:
            return self._fn(_Self(beta), **kwargs)
        return self._fn(**kwargs)

    def __repr__(self) -> str:
        return f"Loss(name={self.name!r}, sha256={self.sha256[:12]}…, params={self.params})"


@dataclass(frozen=True)
class LossFile:
    """A loss file read ONCE: the bytes every later stage uses (the record hashes and stores them,
    the check and the sandbox run them), so an edit or a swapped file mid-run cannot split them."""

    path: Path
    data: bytes
    source: str  # the bytes as strict UTF-8 (decode_source): source.encode("utf-8") == data
    signature: LossSignature

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.data)

    @property
    def name(self) -> str:
        return self.path.stem


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file, refusing symbolic links, devices, FIFOs and oversized files
    (O_NOFOLLOW + fstat: the file checked is the file read)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise LossFileError(f"{path}: no such loss file; pass the path of a .py file defining one loss function") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LossFileError(f"{path}: is a symbolic link; loss files are read only as regular files, "
                                "pass the file it points to (after checking what it is)") from None
        raise LossFileError(f"{path}: cannot read the loss file ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LossFileError(f"{path}: not a regular file; pass the path of a .py file defining one loss function")
        if info.st_size > MAX_SOURCE_BYTES:
            raise LossFileError(f"{path}: file is larger than {MAX_SOURCE_BYTES} bytes; a loss is a few lines")
        chunks, size = [], 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, MAX_SOURCE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_SOURCE_BYTES:
        raise LossFileError(f"{path}: file is larger than {MAX_SOURCE_BYTES} bytes; a loss is a few lines")
    return b"".join(chunks)


def decode_source(data: bytes, filename: str = "<loss>") -> str:
    """The one text of a loss file: its bytes decoded as strict UTF-8, so that the text shown, the
    bytes hashed and the code checked and run are the same (``text.encode("utf-8") == data``).

    Refused with LossFileError: a PEP 263 coding line naming another codec (``# -*- coding: utf-7 -*-``
    turns ``+AAo-`` inside a comment into a new line of code when the file is run, while the text read
    as UTF-8 shows only a comment), a UTF-8 byte-order mark (decoded away, so the text would not hash
    to the file's sha256), and bytes that are not UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        raise LossFileError(f"{filename}: starts with a UTF-8 byte-order mark; save it as UTF-8 without a BOM "
                            "(the text shown and run must be the bytes hashed)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:  # an unknown codec in the coding line, or bytes that are not UTF-8
        raise LossFileError(f"{filename}: cannot decode the file ({e.msg}); loss files are UTF-8 only: save it "
                            "as UTF-8 without a coding line for another codec") from None
    if encoding != "utf-8":
        raise LossFileError(f"{filename}: declares the encoding {encoding!r} in a coding line; loss files are UTF-8 "
                            "only, so that the text shown, hashed, checked and run is one text: remove the coding "
                            "line and save the file as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LossFileError(f"{filename}: cannot decode the file: not valid UTF-8 ({e.reason} at byte "
                            f"{e.start}); save it as UTF-8") from None


def read_loss(path: str | Path) -> LossFile:
    """Read and parse a loss file once (without executing it); raise LossFileError when it cannot be
    read safely or breaks the contract."""
    path = Path(path)
    return loss_from_bytes(path, _read_regular_file(path))


def loss_from_bytes(path: Path, data: bytes) -> LossFile:
    """The ``LossFile`` of bytes already read (``path`` names it in messages and records)."""
    source = decode_source(data, str(path))
    return LossFile(Path(path), data, source, parse_loss_source(source, str(path)))


def read_loss_file(path: str | Path) -> tuple[Path, bytes, str]:
    """(path, bytes, decoded source) of a loss file, read as ``read_loss`` does but not parsed."""
    path = Path(path)
    data = _read_regular_file(path)
    return path, data, decode_source(data, str(path))


def load_loss(path: str | Path | LossFile) -> Loss:
    """Load a TRUSTED loss file (a path, or a ``LossFile`` already read) in this process. Untrusted
    files go through harness.sandbox."""
    loss = path if isinstance(path, LossFile) else read_loss(path)
    path, data, source, signature = loss.path, loss.data, loss.source, loss.signature
    runs = executable(loss)  # a combination runs as its generated file
    namespace: dict = {"__name__": f"harness_loss_{path.stem}", "__file__": str(path)}
    code = compile(runs.source, str(path), "exec")
    exec(code, namespace)  # trusted files only: see the module docstring
    fn = namespace[runs.signature.function]
    if not inspect.isfunction(fn):
        raise LossFileError(f"{path}: `{signature.function}` is not a function after executing the file")
    return Loss(path, source, data, signature, fn)


# ---- combinations of built-ins (harness.combination): the component files are read here


def _components(names: list[str], weights: list[float], filename: str) -> list[tuple[str, str, float, LossFile]]:
    """(name, built-in stem, weight, the built-in's LossFile) per component; each is a plain loss file."""
    out = []
    for name, weight in zip(names, weights, strict=True):
        try:
            stem, path = combination.component_path(name, filename)
        except combination.CombinationError as e:
            raise LossFileError(str(e)) from None
        loss = read_loss(path)
        if loss.signature.combination:
            raise LossFileError(f"{filename}: {name!r} is itself a combination; list its components instead")
        if loss.signature.takes_self:
            raise LossFileError(f"{filename}: {name!r} takes `self`; a component must take plain parameters")
        out.append((name, stem, weight, loss))
    return out


def combination_signature(tree: ast.Module, filename: str) -> LossSignature:
    """The signature of a combination file: its components' inputs and hyper-parameters, united."""
    try:
        names, weights = combination.declaration(tree, filename)
        parts = _components(names, weights, filename)
        hyper = combination.union_hyperparameters([p[3].signature.hyperparameters for p in parts], filename)
    except combination.CombinationError as e:
        raise LossFileError(str(e)) from None
    used = {param for p in parts for param in p[3].signature.params}
    return LossSignature("loss", tuple(p for p in VOCABULARY if p in used), False, ast.get_docstring(tree) or "",
                         hyper, tuple((p[0], p[2]) for p in parts))


def _parts(signature: LossSignature) -> list[tuple[str, str, float, LossFile]]:
    return _components([n for n, _ in signature.combination], [w for _, w in signature.combination], "<loss>")


def executable(loss: LossFile) -> LossFile:
    """The ``LossFile`` that runs: ``loss`` itself, or for a combination its generated file (same path)."""
    if not loss.signature.combination:
        return loss
    parts = [combination.Part(name, stem, weight, part.source, part.signature.function,
                              (*part.signature.params, *part.signature.hyperparameter_names), part.sha256)
             for name, stem, weight, part in _parts(loss.signature)]
    source = combination.generated_source(loss.signature.docstring, loss.signature.params,
                                          loss.signature.hyperparameters, parts)
    return loss_from_bytes(loss.path, source.encode())


def describe_combination(signature: LossSignature) -> list[dict] | None:
    """The record's view of a combination: each component's name, built-in file, weight and sha256."""
    if not signature.combination:
        return None
    return [{"loss_type": name, "builtin": stem, "weight": weight, "sha256": part.sha256}
            for name, stem, weight, part in _parts(signature)]
