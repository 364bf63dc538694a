"""Near-duplicate detection: the same loss is never evaluated twice.

Two loss files are near-duplicates when their syntax trees agree after normalisation:
docstrings, comments and formatting are dropped, local names (functions, variables, helper
arguments) are renamed in order of appearance, and numeric constants are rounded to
``CONST_DIGITS`` significant digits (so 0.05 and 0.0500001 collide, 0.05 and 0.06 do not).
Vocabulary parameters keep their names: they carry meaning.

The optional behavioural check compares the loss values on fixed random inputs; it must run the
candidate, so it is computed inside the sandbox by the evaluator, never here.
"""

from __future__ import annotations

import ast
import builtins
import hashlib

from harness.lossfile import VOCABULARY

CONST_DIGITS = 3
# the declarations a loss file may make (harness.hyperparams, harness.combination) keep their names too
_KEEP = set(VOCABULARY) | set(dir(builtins)) | {"self", "torch", "F", "math", "nn", "np", "HYPERPARAMETERS",
                                                "LOSS_TYPE", "LOSS_WEIGHTS"}


class _Normaliser(ast.NodeTransformer):
    def __init__(self):
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in _KEEP:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node):
        node.name = self._rename(node.name)
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._rename(node.id)
        return node

    def visit_Constant(self, node):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            return node
        return ast.Constant(value=_round_sig(float(v)))


def _round_sig(v: float) -> float:
    if v == 0 or v != v or v in (float("inf"), float("-inf")):
        return v
    return float(f"{v:.{CONST_DIGITS}g}")


def normalise(source: str) -> str:
    """The canonical form of a loss file's code; raise SyntaxError if it does not parse."""
    tree = ast.parse(source)
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # module docstring
    # Imports are normalised away: the same computation with other imports is the same loss.
    body = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom)]
    tree.body = body
    return ast.dump(_Normaliser().visit(tree), annotate_fields=False)


def code_key(source: str) -> str:
    """Hash of the normalised code; falls back to the raw bytes for code that does not parse
    (such a file is invalid anyway, and identical broken replies still collide)."""
    try:
        text = normalise(source)
    except (SyntaxError, ValueError):
        text = "unparsed:" + source
    return hashlib.sha256(text.encode()).hexdigest()


def behaviour_key(values: list[float], digits: int = 4) -> str:
    """Hash of loss values on the fixed probe inputs, rounded so float noise does not matter."""
    rounded = ",".join(f"{v:.{digits}g}" for v in values)
    return hashlib.sha256(rounded.encode()).hexdigest()
