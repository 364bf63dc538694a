"""The harness's import graph: every import counts (module level or inside a function: a lazy import is
still a dependency), there is no cycle, and data flows one way (shared/reference/style.md):

    base -> loss contract -> statistics -> sandbox -> model work -> records -> suites -> pipeline
         -> consumers (boards, discovery, ci) -> interface (cli, commands)

A module may import its own layer and the layers before it, never a later one. General code reaches a
suite only through the interface (``harness.suites`` and the plain modules beside it), never a suite's
package (``harness.suites.tiny``, ``.smol``, ...); no command imports another command (shared option
parsing lives in harness.commands.options, which is not a command). Registries name
their implementations as "module:attribute" strings (harness.registry.lazy) and import them on first use:
those are not edges. ``from package import submodule`` counts as an edge to the submodule only.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (layer, module prefixes); a module belongs to the layer of its longest matching prefix
LAYERS = (
    ("base", ("harness.registry", "harness.text", "harness.paths", "harness.environment", "harness.runtime",
              "harness.hashing", "harness.seal", "harness.prices", "harness.sqlite_wal",
              # answers and their formats, the answers page, units and the terminal: no harness dependency
              "harness.formats", "harness.transcript", "harness.viewer", "harness.units", "harness.terminal")),
    ("loss contract", ("harness", "harness.lossfile", "harness.status", "harness.check_probes", "harness.builtin",
                       "harness.lossplot", "harness.vocabulary", "harness.hyperparams", "harness.combination",
                       "harness.specs")),
    ("statistics", ("harness.stats",)),
    ("sandbox", ("harness.sandbox", "harness.session", "harness.checks")),
    ("model work", ("harness.train", "harness.token_inputs", "harness.generation", "harness.judges",
                    "harness.llm_client")),
    ("records", ("harness.records", "harness.store")),
    ("suites", ("harness.suites",)),
    ("pipeline", ("harness.bench", "harness.sweep", "harness.report", "harness.executors", "harness.reproduce")),
    ("consumers", ("harness.leaderboard", "harness.discovery", "harness.comparison", "harness.regression",
                   "harness.export")),
    ("interface", ("harness.cli", "harness.commands")),
)
# Function-level imports of harness modules: each is a lazy edge (kept for start-up time, or to reach a
# heavy module only when needed). The count may fall; raise it only for a reason worth a review.
MAX_FUNCTION_LEVEL = 172


def _modules() -> dict[str, Path]:
    mods = {}
    for f in (ROOT / "harness").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _imports(path: Path, mods: dict[str, Path]) -> list[tuple[str, bool]]:
    """[(imported harness module, inside a function?)] for every import statement in the file."""
    tree = ast.parse(path.read_text())
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            in_function |= {id(n) for n in ast.walk(node)}
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("harness"):
            subs = {f"{n.module}.{a.name}" for a in n.names} & mods.keys()
            targets = subs if len(subs) == len(n.names) else subs | {n.module}
        elif isinstance(n, ast.Import):
            targets = {a.name for a in n.names if a.name.startswith("harness")}
        else:
            continue
        out += [(t, id(n) in in_function) for t in sorted(targets & mods.keys())]
    return out


@functools.cache
def _graph() -> tuple[dict[str, set[str]], int]:
    mods = _modules()
    graph, lazy = {}, 0
    for m, f in mods.items():
        edges = _imports(f, mods)
        lazy += sum(1 for _, inside in edges if inside)
        graph[m] = {t for t, _ in edges} - {m}
    return graph, lazy


def layer(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            # the package itself ("harness") holds only its __init__; every other module is listed
            if (module == p or (p != "harness" and module.startswith(p + "."))) and len(p) > best:
                best, rank = len(p), i
    if rank is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in tests/test_import_graph.py")
    return rank


def suite_package(module: str) -> str | None:
    """``harness.suites.tiny`` for any module of the tiny suite's package; None for the interface."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["harness", "suites"]:
        if (ROOT / "harness" / "suites" / parts[2]).is_dir():
            return ".".join(parts[:3])
    return None


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


def test_function_level_imports_are_counted(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import harness.text\n\ndef f():\n    from harness.stats import win_rate_ci\n")
    assert _imports(f, {"harness.text": f, "harness.stats": f}) == [("harness.text", False), ("harness.stats", True)]


def test_every_module_belongs_to_a_layer():
    unplaced = []
    for m in _modules():
        try:
            layer(m)
        except AssertionError:
            unplaced.append(m)
    assert not unplaced, f"modules in no layer (add them to LAYERS): {unplaced}"


def test_the_layer_rules_classify_modules():
    assert layer("harness.suites.tiny.evaluate") == layer("harness.suites") > layer("harness.records")
    assert layer("harness") < layer("harness.bench") < layer("harness.commands.bench")
    assert suite_package("harness.suites.tiny.evaluate") == "harness.suites.tiny"
    assert suite_package("harness.suites.cache") is None and suite_package("harness.suites") is None


def test_no_import_cycles_in_harness():
    graph, _ = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_layer_imports_a_later_one():
    graph, _ = _graph()
    upward = sorted(f"{m} ({LAYERS[layer(m)][0]}) -> {d} ({LAYERS[layer(d)][0]})"
                    for m, deps in graph.items() for d in deps if layer(d) > layer(m))
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)


def test_general_code_reaches_suites_only_through_the_interface():
    graph, _ = _graph()
    bad = sorted(f"{m} -> {d}" for m, deps in graph.items() if not m.startswith("harness.suites")
                 for d in deps if suite_package(d))
    assert not bad, "imports of a suite's package from outside harness/suites/:\n" + "\n".join(bad)


def test_no_command_imports_another_command():
    from harness.cli import COMMANDS

    commands = {f"harness.commands.{module}" for module, _ in COMMANDS.values()}
    graph, _ = _graph()
    bad = sorted(f"{m} -> {d}" for m, deps in graph.items() if m in commands for d in deps if d in commands - {m})
    assert not bad, "commands share code through library modules, not each other:\n" + "\n".join(bad)


def test_function_level_imports_do_not_grow():
    _, lazy = _graph()
    assert lazy <= MAX_FUNCTION_LEVEL, (f"{lazy} function-level imports of harness modules (at most "
                                        f"{MAX_FUNCTION_LEVEL}); import at the top of the module unless it is heavy")
