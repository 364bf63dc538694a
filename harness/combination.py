"""Combinations of built-in losses with weights, as TRL writes them: a ``loss_type`` list and ``loss_weights``.

A combination file defines no function, only its docstring and two literals:

    \"\"\"MPO: a weighted DPO + BCO + SFT objective (Wang et al. 2024).\"\"\"
    LOSS_TYPE = ["sigmoid", "bco_pair", "sft"]
    LOSS_WEIGHTS = [0.8, 0.2, 1.0]  # optional; all 1.0 when left out, as in TRL

Names are TRL's ``loss_type`` names ("sigmoid", "hinge", ...) or the harness's built-in names ("dpo",
"slic", ...). The loss is sum_i w_i * loss_i per example, so its mean is TRL's sum_i w_i * mean(loss_i).
Its inputs are the union of the components' and its hyper-parameters too: a name two components
declare is one setting (TRL's single ``label_smoothing``), and they must declare it alike.

What runs is a single generated loss file (``executable``): each component's trusted source inside a
factory function of its own (so helper names cannot collide), then ``loss`` summing them. Records keep
the combination file's own bytes and list each component with its weight and file hash (``describe``).
"""

from __future__ import annotations

import ast
import math
import textwrap
from dataclasses import dataclass

from harness.vocabulary import VOCABULARY

TYPES, WEIGHTS = "LOSS_TYPE", "LOSS_WEIGHTS"
MAX_COMPONENTS = 8
# TRL loss_type names whose built-in file has another (the field's older) name
TRL_NAMES = {"sigmoid": "dpo", "hinge": "slic"}


@dataclass(frozen=True)
class Component:
    name: str  # as written in LOSS_TYPE
    builtin: str  # the built-in file's stem
    weight: float
    loss: object  # harness.lossfile.LossFile of the built-in


def _assigned(tree: ast.Module) -> dict[str, ast.AST]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node
    return out


def is_combination(tree: ast.Module) -> bool:
    return TYPES in _assigned(tree)


def _fail(filename: str, line: int, message: str):
    from harness.lossfile import LossFileError

    raise LossFileError(f"{filename}:{line}: {message}")


def _literal(node: ast.Assign, filename: str):
    try:
        return ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        _fail(filename, node.lineno, f"{node.targets[0].id} must be a literal list")


def _declaration(tree: ast.Module, filename: str) -> tuple[list[str], list[float]]:
    assigned = _assigned(tree)
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
        if not docstring and node not in (assigned.get(TYPES), assigned.get(WEIGHTS)):
            _fail(filename, node.lineno, f"a combination file holds only its docstring, {TYPES} and {WEIGHTS}; "
                                         "write a loss function instead to add code")
    types = _literal(assigned[TYPES], filename)
    line = assigned[TYPES].lineno
    if not (isinstance(types, list) and 1 <= len(types) <= MAX_COMPONENTS and all(isinstance(t, str) for t in types)):
        _fail(filename, line, f"{TYPES} must be a list of 1 to {MAX_COMPONENTS} loss names, e.g. [\"sigmoid\", \"sft\"]")
    if len(set(types)) != len(types):
        _fail(filename, line, f"{TYPES} names a loss twice; give it one weight instead")
    if WEIGHTS not in assigned:
        return types, [1.0] * len(types)
    weights = _literal(assigned[WEIGHTS], filename)
    ok = isinstance(weights, list) and len(weights) == len(types) and all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    if not ok:
        _fail(filename, assigned[WEIGHTS].lineno, f"{WEIGHTS} must be a list of {len(types)} finite numbers, one "
                                                  f"per {TYPES} entry")
    return types, [float(w) for w in weights]


def components(types: list[str], weights: list[float], filename: str = "<loss>") -> list[Component]:
    """The built-in files named by ``types`` (TRL or harness names), read and parsed (they are trusted)."""
    from harness.lossfile import LossFileError, read_loss
    from harness.paths import builtin_losses_dir

    folder = builtin_losses_dir()
    known = sorted({p.stem for p in folder.glob("*.py") if not p.name.startswith("_")} | set(TRL_NAMES))
    out = []
    for name, weight in zip(types, weights, strict=True):
        stem = TRL_NAMES.get(name, name)
        path = folder / f"{stem}.py"
        if not path.is_file():
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            raise LossFileError(f"{filename}: {TYPES} names {name!r}, which is no built-in loss"
                                f"{f'; did you mean {close[0]!r}?' if close else ''} (`harness losses` lists them)")
        loss = read_loss(path)
        if loss.signature.combination:
            raise LossFileError(f"{filename}: {name!r} is itself a combination; list its components instead")
        if loss.signature.takes_self:
            raise LossFileError(f"{filename}: {name!r} takes `self`; a component must take plain parameters")
        out.append(Component(name, stem, weight, loss))
    return out


def _union_hyperparameters(parts: list[Component], filename: str) -> tuple:
    from harness.lossfile import LossFileError

    seen: dict = {}
    for part in parts:
        for h in part.loss.signature.hyperparameters:
            if h.name in seen and seen[h.name] != h:
                raise LossFileError(f"{filename}: components declare hyper-parameter {h.name!r} differently "
                                    f"({seen[h.name]} vs {h}); they must share one default and range")
            seen.setdefault(h.name, h)
    return tuple(seen.values())


def parse_combination(tree: ast.Module, filename: str):
    """The ``LossSignature`` of a combination file (its params, hyper-parameters and components)."""
    from harness.lossfile import LossSignature

    types, weights = _declaration(tree, filename)
    parts = components(types, weights, filename)
    used = {p for part in parts for p in part.loss.signature.params}
    params = tuple(p for p in VOCABULARY if p in used)
    return LossSignature("loss", params, False, ast.get_docstring(tree) or "",
                         _union_hyperparameters(parts, filename),
                         tuple((part.name, part.weight) for part in parts))


def _call(index: int, part: Component) -> str:
    sig = part.loss.signature
    args = ", ".join(f"{p}={p}" for p in (*sig.params, *sig.hyperparameter_names))
    return f"{part.weight!r} * _c{index}({args})"


def executable_source(signature) -> str:
    """The one loss file that computes the combination ``signature`` (harness.lossfile.LossSignature)."""
    parts = components([n for n, _ in signature.combination], [w for _, w in signature.combination])
    blocks = []
    for i, part in enumerate(parts):
        body = textwrap.indent(part.loss.source.rstrip() + f"\nreturn {part.loss.signature.function}\n", "    ")
        blocks.append(f"def _component_{i}():  # {part.builtin}.py, sha256 {part.loss.sha256}\n{body}\n\n"
                      f"_c{i} = _component_{i}()\n")
    hyper = signature.hyperparameters
    ranges = "{" + ", ".join(f"{h.name!r}: ({h.low!r}, {h.high!r})" for h in hyper) + "}"
    params = ", ".join([*signature.params, *(f"{h.name}={h.default!r}" for h in hyper)])
    terms = "\n        + ".join(_call(i, part) for i, part in enumerate(parts))
    doc = signature.docstring.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return (f"# Generated by harness.combination: {TYPES} = {[n for n, _ in signature.combination]!r}, "
            f"{WEIGHTS} = {[w for _, w in signature.combination]!r}\n\n"
            + "\n\n".join(blocks)
            + f"\n\nHYPERPARAMETERS = {ranges}\n\n\n"
            + f'def loss({params}):\n    """{doc}"""\n    return (\n        {terms}\n    )\n')


def executable(loss):
    """The ``LossFile`` that runs: ``loss`` itself, or for a combination the generated file (same path)."""
    if not loss.signature.combination:
        return loss
    from harness.lossfile import loss_from_bytes

    return loss_from_bytes(loss.path, executable_source(loss.signature).encode())


def describe(signature) -> list[dict] | None:
    """The record's view of a combination: each component's name, built-in file, weight and sha256."""
    if not signature.combination:
        return None
    parts = components([n for n, _ in signature.combination], [w for _, w in signature.combination])
    return [{"loss_type": p.name, "builtin": p.builtin, "weight": p.weight, "sha256": p.loss.sha256} for p in parts]
