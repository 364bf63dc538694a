"""Dotted-field overrides of nested frozen suite configs (``{"train.learning_rate": 1e-4}``).

Unknown fields raise with the valid names (no silent drop); lists become tuples where the field
holds a tuple, so overrides from a JSON job spec give the same config (and config hash) as Python.
"""

from __future__ import annotations

import dataclasses


def apply_overrides(config, overrides: dict):
    """All overrides of one sub-config are applied together, so cross-field checks in
    ``__post_init__`` (e.g. steps a multiple of checkpoint_every) see the final values only."""
    tree: dict = {}
    for dotted, value in overrides.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict) or _LEAF in node:
                raise KeyError(f"config field {dotted!r} conflicts with another override")
        node[leaf] = {_LEAF: value}
    return _apply(config, tree, "")


_LEAF = object()


def _apply(obj, tree: dict, prefix: str):
    if not dataclasses.is_dataclass(obj):
        raise KeyError(f"config field {prefix.rstrip('.')!r}: {type(obj).__name__} has no sub-fields")
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for name, sub in tree.items():
        dotted = prefix + name
        if name not in names:
            raise KeyError(f"unknown config field {dotted!r}; fields here: {', '.join(sorted(names))}")
        current = getattr(obj, name)
        if _LEAF in sub:
            value = sub[_LEAF]
            changes[name] = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
        else:
            changes[name] = _apply(current, sub, dotted + ".")
    return dataclasses.replace(obj, **changes)

