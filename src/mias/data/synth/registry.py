"""Generator registry (timm-style): tasks are registered by name, never found by folder scans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mias.data.synth.base import CaseGenerator
from mias.errors import InputError

_GENERATORS: dict[str, Callable[..., CaseGenerator]] = {}

F = TypeVar("F", bound=Callable[..., CaseGenerator])


def register_generator(name: str) -> Callable[[F], F]:
    """Register a generator class (or factory) under `name`; a duplicate name is a bug."""

    def wrap(factory: F) -> F:
        if name in _GENERATORS:
            raise ValueError(f"generator {name!r} is already registered")
        _GENERATORS[name] = factory
        return factory

    return wrap


def available_generators() -> list[str]:
    return sorted(_GENERATORS)


def create_generator(name: str, **cfg: Any) -> CaseGenerator:
    """Build the generator registered as `name`; an unknown name is the user's to fix."""
    key = name.strip().lower()
    if key not in _GENERATORS:
        raise InputError(None, f"unknown synthetic task {name!r}",
                         f"choose one of: {', '.join(available_generators())}")
    return _GENERATORS[key](**cfg)
