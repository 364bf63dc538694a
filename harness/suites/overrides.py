"""Dotted-field overrides of nested frozen suite configs (``{"train.learning_rate": 1e-4}``).

Unknown fields raise with the valid names (no silent drop); lists become tuples where the field
holds a tuple, so a JSON job spec round-trips into the same config (and the same config hash).
"""

from __future__ import annotations

import dataclasses


def apply_overrides(config, overrides: dict):
    for dotted, value in overrides.items():
        config = _set(config, dotted.split("."), value, dotted)
    return config


def _set(obj, path: list[str], value, dotted: str):
    if not dataclasses.is_dataclass(obj):
        raise KeyError(f"config field {dotted!r}: {type(obj).__name__} has no sub-fields")
    names = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in names:
        raise KeyError(f"unknown config field {dotted!r}; fields here: {', '.join(sorted(names))}")
    current = getattr(obj, path[0])
    if len(path) == 1:
        if isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: _set(current, path[1:], value, dotted)})


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
