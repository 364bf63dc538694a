"""Loss expression trees: the genome of the ``evolve`` proposer.

A tree combines the primitives the DPO-family losses share (DiscoPOP paper, Table 1): the scaled
log-ratio margin ``x = beta * rho`` and the raw margin ``rho``, the link functions logsigmoid, exp,
relu, sigmoid, tanh, softplus, sigmoid gates that blend two losses (LRML, DBAQL), batch statistics
(AQL, AQFL) and constants. Trees are plain data (nested tuples) so that they serialise to JSON for
the archive and render to a loss file that passes ``harness.lossfile.parse_loss_source``.

Rendering is deliberately defensive (``exp`` is clamped, ``std`` has an epsilon): a tree that
overflows on the first batch teaches the search nothing, so we spend the budget on losses that at
least train.
"""

from __future__ import annotations

import json
import math
import random

# op name -> (arity, python template). Templates take rendered children as {0}, {1}, ...
UNARY = {
    "neg": "(-{0})",
    "logsigmoid": "F.logsigmoid({0})",
    "sigmoid": "torch.sigmoid({0})",
    "exp": "torch.exp(torch.clamp({0}, max=20.0))",
    "relu": "torch.relu({0})",
    "tanh": "torch.tanh({0})",
    "softplus": "F.softplus({0})",
    "abs": "torch.abs({0})",
    "square": "torch.square({0})",
}
BINARY = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
}
# A gate blends two losses: g * a + (1 - g) * b with g = sigmoid(c), as in LRML (Eq. 5).
TERNARY = {"gate": "_gate({0}, {1}, {2})"}
# Batch statistics reduce (B,) to a scalar that broadcasts back; they make the loss batch-dependent.
STATS = {
    "mean": "{0}.mean()",
    "std": "({0}.std(unbiased=False) + 1e-6)",
}
LEAVES = ("x", "rho")  # per-example margins; see render_loss_file for their definitions

ARITY = {**{k: 1 for k in UNARY}, **{k: 2 for k in BINARY}, **{k: 3 for k in TERNARY},
         **{k: 1 for k in STATS}}
MAX_NODES = 25
MAX_DEPTH = 6

# Seed population: the scored losses of the paper's Table 1 that fit the grammar.
SEEDS = {
    "dpo": ("neg", ("logsigmoid", ("var", "x"))),
    "slic": ("relu", ("sub", ("const", 1.0), ("var", "x"))),
    "exp": ("exp", ("neg", ("var", "x"))),
    "cell": ("add", ("mul", ("const", 0.5), ("exp", ("neg", ("var", "x")))),
             ("mul", ("const", 0.5), ("neg", ("logsigmoid", ("var", "x"))))),
    # LRML / DiscoPOP: (1 - m) f_dpo(x) + m f_exp(x), m = sigmoid(x / tau), tau = 0.05 (Eq. 5).
    "lrml": ("gate", ("mul", ("const", 20.0), ("var", "x")), ("exp", ("neg", ("var", "x"))),
             ("neg", ("logsigmoid", ("var", "x")))),
}


class ExpressionError(ValueError):
    """A tree is malformed (unknown op, wrong arity, or not a per-example loss)."""


def op(tree) -> str:
    return tree[0]


def children(tree) -> tuple:
    return () if tree[0] in ("var", "const") else tuple(tree[1:])


def size(tree) -> int:
    return 1 + sum(size(c) for c in children(tree))


def depth(tree) -> int:
    return 1 + max((depth(c) for c in children(tree)), default=0)


def per_example(tree) -> bool:
    """True when the value has shape (B,): a leaf variable outside every batch statistic."""
    if tree[0] == "var":
        return True
    if tree[0] in ("const", *STATS):
        return False
    return any(per_example(c) for c in children(tree))


def validate(tree) -> None:
    """Raise ExpressionError unless the tree is well-formed, small, and yields a (B,) loss."""
    _check_node(tree)
    if tree[0] == "var":
        raise ExpressionError("a bare margin is linear and unbounded below; apply an op to it")
    if not per_example(tree):
        raise ExpressionError("the expression does not depend per-example on x or rho")
    if not _every_op_has_var(tree):
        raise ExpressionError("a sub-expression has no variable; fold constants into one constant")
    if size(tree) > MAX_NODES or depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"expression too large (size {size(tree)}, depth {depth(tree)})")


def _has_var(tree) -> bool:
    return tree[0] == "var" or any(_has_var(c) for c in children(tree))


def _every_op_has_var(tree) -> bool:
    # torch functions need a tensor argument, and constant sub-expressions only bloat the search.
    if not children(tree):
        return True
    return _has_var(tree) and all(_every_op_has_var(c) for c in children(tree))


def _check_node(tree) -> None:
    if not isinstance(tree, tuple) or not tree:
        raise ExpressionError(f"not an expression node: {tree!r}")
    name = tree[0]
    if name == "var":
        if len(tree) != 2 or tree[1] not in LEAVES:
            raise ExpressionError(f"unknown variable in {tree!r}; choose from {LEAVES}")
        return
    if name == "const":
        if len(tree) != 2 or not isinstance(tree[1], int | float) or not math.isfinite(tree[1]):
            raise ExpressionError(f"bad constant {tree!r}")
        return
    if name not in ARITY:
        raise ExpressionError(f"unknown op {name!r}")
    if len(tree) - 1 != ARITY[name]:
        raise ExpressionError(f"op {name!r} takes {ARITY[name]} argument(s), got {len(tree) - 1}")
    for c in tree[1:]:
        _check_node(c)


def render_expr(tree) -> str:
    name = tree[0]
    if name == "var":
        return tree[1]
    if name == "const":
        return repr(float(tree[1]))
    template = {**UNARY, **BINARY, **TERNARY, **STATS}[name]
    return template.format(*(render_expr(c) for c in tree[1:]))


def uses_gate(tree) -> bool:
    return tree[0] == "gate" or any(uses_gate(c) for c in children(tree))


def to_json(tree) -> str:
    return json.dumps(tree)


def from_json(text: str):
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, list) else v

    tree = tup(json.loads(text))
    _check_node(tree)
    return tree


def render_loss_file(tree, name: str, header: str = "") -> str:
    """A complete loss file (the paper's four inputs plus beta) computing the tree per example."""
    validate(tree)
    body = render_expr(tree)
    helper = ""
    if uses_gate(tree):
        helper = (
            "\n\ndef _gate(c, a, b):\n"
            "    # Sigmoid gate between two losses, as in LRML (DiscoPOP paper, Eq. 5).\n"
            "    g = torch.sigmoid(torch.as_tensor(c))\n"
            "    return g * a + (1 - g) * b\n"
        )
    doc = f'"""{name}: an evolved loss.\n\n{header}Expression: {to_json(tree)}\n"""\n'
    return (
        f"{doc}\nimport torch\nimport torch.nn.functional as F\n{helper}\n\n"
        "def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,\n"
        "         reference_rejected_logps, beta):\n"
        "    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)\n"
        "    x = beta * rho\n"
        f"    return {body}\n"
    )


# ---------------------------------------------------------------- random variation


def random_tree(rng: random.Random, max_depth: int = 3):
    """A random expression; leaves are variables or small constants."""
    if max_depth <= 1 or rng.random() < 0.3:
        if rng.random() < 0.75:
            return ("var", rng.choice(LEAVES))
        return ("const", _random_const(rng))
    kind = rng.choices(["unary", "binary", "gate", "stat"], weights=[5, 4, 1, 1])[0]
    if kind == "unary":
        return (rng.choice(list(UNARY)), random_tree(rng, max_depth - 1))
    if kind == "binary":
        return (rng.choice(list(BINARY)), random_tree(rng, max_depth - 1), random_tree(rng, max_depth - 1))
    if kind == "gate":
        return ("gate", *(random_tree(rng, max_depth - 1) for _ in range(3)))
    return (rng.choice(list(STATS)), random_tree(rng, max_depth - 1))


def _random_const(rng: random.Random) -> float:
    return float(rng.choice([0.5, 1.0, 2.0, 0.1, 0.9, 10.0, 20.0]))


def _paths(tree, prefix=()):
    yield prefix
    for i, c in enumerate(children(tree)):
        yield from _paths(c, (*prefix, i + 1))


def get_at(tree, path):
    for i in path:
        tree = tree[i]
    return tree


def replace_at(tree, path, new):
    if not path:
        return new
    i = path[0]
    return tree[:i] + (replace_at(tree[i], path[1:], new),) + tree[i + 1:]


def _mutate_once(tree, rng: random.Random):
    path = rng.choice(list(_paths(tree)))
    node = get_at(tree, path)
    kind = rng.choice(["point", "const", "subtree", "hoist", "wrap", "blend"])
    if kind == "const":
        consts = [p for p in _paths(tree) if get_at(tree, p)[0] == "const"]
        if consts:
            p = rng.choice(consts)
            value = get_at(tree, p)[1] * math.exp(rng.gauss(0.0, 0.5)) * rng.choice([1, 1, 1, -1])
            return replace_at(tree, p, ("const", round(value, 4)))
        kind = "point"
    if kind == "point" and node[0] in ARITY:
        same = [k for k, a in ARITY.items() if a == ARITY[node[0]] and k != node[0]]
        return replace_at(tree, path, (rng.choice(same), *node[1:])) if same else tree
    if kind == "hoist" and children(node):
        return replace_at(tree, path, rng.choice(children(node)))
    if kind == "wrap":
        return replace_at(tree, path, (rng.choice(list(UNARY)), node))
    if kind == "blend":
        # Mix the node with a fresh loss through a gate or a weighted sum (CELL, LRML style).
        other = random_tree(rng, 3)
        if rng.random() < 0.5:
            return replace_at(tree, path, ("gate", random_tree(rng, 2), node, other))
        w = rng.choice([0.1, 0.3, 0.5])
        return replace_at(tree, path, ("add", ("mul", ("const", 1 - w), node), ("mul", ("const", w), other)))
    return replace_at(tree, path, random_tree(rng, 3))


def mutate(tree, rng: random.Random, attempts: int = 50):
    """A valid tree differing from ``tree``; raise ExpressionError if none found in ``attempts``."""
    for _ in range(attempts):
        new = _mutate_once(tree, rng)
        if rng.random() < 0.3:
            new = _mutate_once(new, rng)
        if new != tree and _is_valid(new):
            return new
    raise ExpressionError(f"no valid mutation of {to_json(tree)} in {attempts} attempts")


def crossover(a, b, rng: random.Random, attempts: int = 50):
    """Graft a random subtree of ``b`` into a random place of ``a`` (subtree crossover)."""
    for _ in range(attempts):
        target = rng.choice(list(_paths(a)))
        donor = get_at(b, rng.choice(list(_paths(b))))
        new = replace_at(a, target, donor)
        if new != a and new != b and _is_valid(new):
            return new
    raise ExpressionError("no valid crossover in the given attempts")


def _is_valid(tree) -> bool:
    try:
        validate(tree)
    except ExpressionError:
        return False
    return True
