"""A small named registry: duplicate names raise, unknown names answer "did you mean ...".

Help texts and error messages are generated from the registry instead of retyping lists of names.
Implementations are registered as lazy factories (``lazy("package.module:Name")``): the registry names
them without importing them, so a name resolves whether or not its module was imported before, and the
implementations never import the registry to register themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def lazy(target: str, *args, **kwargs) -> Callable:
    """A factory for ``"package.module:attribute"`` (the attribute may be dotted: ``Class.from_folder``):
    calling it imports the module (on first use only) and calls the attribute with ``args`` and ``kwargs``
    first, then the caller's arguments."""
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"a lazy factory names 'package.module:attribute', got {target!r}")

    def factory(*more, **options):
        import importlib

        obj = importlib.import_module(module)
        for name in attribute.split("."):
            obj = getattr(obj, name)
        return obj(*args, *more, **{**kwargs, **options})

    factory.target = target  # what it will import (for help texts and tests)
    return factory


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; its message lists the choices."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain sentence
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, help)
            return obj

        return decorator

    def add(self, name: str, obj: T, help: str = "", *, replace: bool = False) -> None:
        """Register ``obj``; a taken name raises unless ``replace`` (a user suite added again)."""
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        self._help[name] = help

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Choices: {', '.join(sorted(self._items))}"
            ) from None

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
