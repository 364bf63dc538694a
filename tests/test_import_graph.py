"""No import cycles among the harness's modules (module-level imports; a function-level import is a
deliberate lazy edge). ``from package import submodule`` counts as an edge to the submodule only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    mods = {}
    for f in (ROOT / "harness").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _edges(tree: ast.Module, mods: dict[str, Path]) -> set[str]:
    deps = set()
    nodes = [n for top in tree.body for n in ([top] + (top.body if isinstance(top, ast.If) else []))]
    for n in nodes:
        if isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("harness"):
            subs = {f"{n.module}.{a.name}" for a in n.names} & mods.keys()
            deps |= subs if len(subs) == len(n.names) else subs | {n.module}
        elif isinstance(n, ast.Import):
            deps |= {a.name for a in n.names if a.name.startswith("harness")}
    return deps & mods.keys()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state, stack, found = {}, [], []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles_in_harness():
    mods = _modules()
    graph = {m: _edges(ast.parse(f.read_text()), mods) - {m} for m, f in mods.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
