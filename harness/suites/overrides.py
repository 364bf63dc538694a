"""Dotted-field overrides of nested frozen suite configs (``{"train.learning_rate": 1e-4}``).

Unknown fields raise with the valid names (no silent drop); lists become tuples where the field
holds a tuple, so a JSON job spec round-trips into the same config (and the same config hash).
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


def from_dict(cls, data: dict):
    """Rebuild a nested frozen config from its ``asdict`` form (job specs, records)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        sub = _default_of(f)
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            value = from_dict(type(sub), value)
        elif isinstance(sub, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise KeyError(f"unknown config field(s) {sorted(unknown)} for {cls.__name__}")
    return cls(**kwargs)


def _default_of(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None
