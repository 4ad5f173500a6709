"""One registry type for every plugin kind (timm's `register_model` pattern).

Operators, readers, generators, imputation rules, normalisers, devices and predictors are
registered by name and created by name; nothing is found by scanning folders. An unknown
name is usually the user's to fix (a typo in a CLI flag or a config), so it is an
`InputError` that lists the names that exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mias.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → entry (a class, factory or function), in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under `name`; a duplicate name is a bug."""

        def wrap(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return wrap

    def get(self, name: str) -> T:
        """The entry registered as `name`, or an `InputError` listing the known names."""
        try:
            return self._entries[name]
        except KeyError:
            raise InputError(None, f"unknown {self.kind} {name!r}",
                             f"choose one of: {', '.join(sorted(self._entries))}") from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
