"""Small synthetic datasets shared by the synth tests (written once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mias.data.synth import synthesize


@pytest.fixture(scope="session")
def make_dataset(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`make_dataset(task, fmt, cases, seed)`: a cached dataset path (read-only by convention)."""
    cache: dict[tuple, Path] = {}

    def make(task: str, fmt: str = "nifti", cases: int = 6, seed: int = 0) -> Path:
        key = (task, fmt, cases, seed)
        if key not in cache:
            root = tmp_path_factory.mktemp("synth")
            cache[key] = synthesize(task, root / f"{task}-{fmt}", cases=cases, seed=seed,
                                    fmt=fmt)
        return cache[key]

    return make
