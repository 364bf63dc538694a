"""Combinations of built-in losses with weights, as TRL writes them: a ``loss_type`` list and ``loss_weights``.

A combination file defines no function, only its docstring and two literals:

    \"\"\"MPO: a weighted DPO + BCO + SFT objective (Wang et al. 2024).\"\"\"
    LOSS_TYPE = ["sigmoid", "bco_pair", "sft"]
    LOSS_WEIGHTS = [0.8, 0.2, 1.0]  # optional; all 1.0 when left out, as in TRL

Names are TRL's ``loss_type`` names ("sigmoid", "hinge", ...) or the harness's built-in names ("dpo",
"slic", ...). The loss is sum_i w_i * loss_i per example, so its mean is TRL's sum_i w_i * mean(loss_i).
Its inputs and hyper-parameters are the union of the components': a name two components declare is one
setting (TRL's single ``label_smoothing``), and they must declare it alike.

What runs is a single generated loss file (``generated_source``): each component's trusted source inside
a factory function of its own (so helper names cannot collide), then ``loss`` summing them. Records keep
the combination file's own bytes and list each component with its weight and file hash. This module
only reads declarations and writes source; harness.lossfile reads the component files with it
(``combination_signature``, ``executable``, ``describe_combination``), so it imports nothing above it.
"""

from __future__ import annotations

import ast
import difflib
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

from harness.paths import builtin_losses_dir

TYPES, WEIGHTS = "LOSS_TYPE", "LOSS_WEIGHTS"
MAX_COMPONENTS = 8
# TRL loss_type names whose built-in file has another (the field's older) name
TRL_NAMES = {"sigmoid": "dpo", "hinge": "slic"}


class CombinationError(ValueError):
    """A loss_type list breaks the contract; the message names the line, the problem and the fix."""


@dataclass(frozen=True)
class Part:
    """One component as the generated file needs it."""

    name: str  # as written in LOSS_TYPE
    builtin: str  # the built-in file's stem
    weight: float
    source: str  # the built-in file's source (trusted)
    function: str  # its loss function's name
    arguments: tuple[str, ...]  # its vocabulary inputs and hyper-parameters, passed by name
    sha256: str


def _assigned(tree: ast.Module) -> dict[str, ast.AST]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node
    return out


def is_combination(tree: ast.Module) -> bool:
    return TYPES in _assigned(tree)


def _literal(node: ast.Assign, filename: str):
    try:
        return ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise CombinationError(f"{filename}:{node.lineno}: {node.targets[0].id} must be a literal list") from None


def declaration(tree: ast.Module, filename: str) -> tuple[list[str], list[float]]:
    """(names, weights) of a combination file; CombinationError for anything else in it."""
    assigned = _assigned(tree)
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
        if not docstring and node not in (assigned.get(TYPES), assigned.get(WEIGHTS)):
            raise CombinationError(f"{filename}:{node.lineno}: a combination file holds only its docstring, {TYPES} "
                                   f"and {WEIGHTS}; write a loss function instead to add code")
    types = _literal(assigned[TYPES], filename)
    line = assigned[TYPES].lineno
    if not (isinstance(types, list) and 1 <= len(types) <= MAX_COMPONENTS and all(isinstance(t, str) for t in types)):
        raise CombinationError(f"{filename}:{line}: {TYPES} must be a list of 1 to {MAX_COMPONENTS} loss names, "
                               'e.g. ["sigmoid", "sft"]')
    if len(set(types)) != len(types):
        raise CombinationError(f"{filename}:{line}: {TYPES} names a loss twice; give it one weight instead")
    if WEIGHTS not in assigned:
        return types, [1.0] * len(types)
    weights = _literal(assigned[WEIGHTS], filename)
    ok = isinstance(weights, list) and len(weights) == len(types) and all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    if not ok:
        raise CombinationError(f"{filename}:{assigned[WEIGHTS].lineno}: {WEIGHTS} must be a list of {len(types)} "
                               f"finite numbers, one per {TYPES} entry")
    return types, [float(w) for w in weights]


def component_path(name: str, filename: str = "<loss>") -> tuple[str, Path]:
    """(built-in stem, file path) of a TRL or harness loss name; CombinationError with a suggestion."""
    folder = builtin_losses_dir()
    stem = TRL_NAMES.get(name, name)
    path = folder / f"{stem}.py"
    if not path.is_file():
        known = sorted({p.stem for p in folder.glob("*.py") if not p.name.startswith("_")} | set(TRL_NAMES))
        close = difflib.get_close_matches(name, known, n=1)
        raise CombinationError(f"{filename}: {TYPES} names {name!r}, which is no built-in loss"
                               f"{f'; did you mean {close[0]!r}?' if close else ''} (`harness losses` lists them)")
    return stem, path


def union_hyperparameters(declared: list[tuple], filename: str) -> tuple:
    """One tuple of Hyperparameters from the components' (in order); a name declared differently by two
    components is a CombinationError."""
    seen: dict = {}
    for hyper in declared:
        for h in hyper:
            if h.name in seen and seen[h.name] != h:
                raise CombinationError(f"{filename}: components declare hyper-parameter {h.name!r} differently "
                                       f"({seen[h.name]} vs {h}); they must share one default and range")
            seen.setdefault(h.name, h)
    return tuple(seen.values())


def generated_source(docstring: str, params: tuple[str, ...], hyperparameters: tuple, parts: list[Part]) -> str:
    """The one loss file that computes the weighted sum of ``parts`` (module doc)."""
    blocks = []
    for i, part in enumerate(parts):
        body = textwrap.indent(part.source.rstrip() + f"\nreturn {part.function}\n", "    ")
        blocks.append(f"def _component_{i}():  # {part.builtin}.py, sha256 {part.sha256}\n{body}\n\n"
                      f"_c{i} = _component_{i}()\n")
    ranges = "{" + ", ".join(f"{h.name!r}: ({h.low!r}, {h.high!r})" for h in hyperparameters) + "}"
    signature = ", ".join([*params, *(f"{h.name}={h.default!r}" for h in hyperparameters)])
    terms = "\n        + ".join(f"{p.weight!r} * _c{i}({', '.join(f'{a}={a}' for a in p.arguments)})"
                                for i, p in enumerate(parts))
    doc = docstring.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return (f"# Generated by harness.combination: {TYPES} = {[p.name for p in parts]!r}, "
            f"{WEIGHTS} = {[p.weight for p in parts]!r}\n\n"
            + "\n\n".join(blocks)
            + f"\n\nHYPERPARAMETERS = {ranges}\n\n\n"
            + f'def loss({signature}):\n    """{doc}"""\n    return (\n        {terms}\n    )\n')
