"""Generator registry (timm-style): tasks are registered by name, never found by folder scans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mias.data.synth.base import CaseGenerator
from mias.registry import Registry

GENERATORS: Registry[Callable[..., CaseGenerator]] = Registry("synthetic task")

F = TypeVar("F", bound=Callable[..., CaseGenerator])


def register_generator(name: str) -> Callable[[F], F]:
    """Register a generator class (or factory) under `name`; a duplicate name is a bug."""
    return GENERATORS.register(name)


def available_generators() -> list[str]:
    return sorted(GENERATORS)


def create_generator(name: str, **cfg: Any) -> CaseGenerator:
    """Build the generator registered as `name`; an unknown name is the user's to fix."""
    return GENERATORS.get(name.strip().lower())(**cfg)
