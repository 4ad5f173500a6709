"""A tiny benchmark shared by the bench tests: 2 tasks × 4 architectures × 2 seeds, 2 epochs of
one SGD step each."""

from __future__ import annotations

from pathlib import Path

import pytest

from mias.bench.builder import BuildConfig, build
from mias.presets.models import TrainSettings

TINY_TASKS = ["Hippocampus", "Spleen"]


def tiny_config(archs: int = 4) -> BuildConfig:
    return BuildConfig(tasks=TINY_TASKS, archs=archs, cases=6,
                       train=TrainSettings(epochs=2, steps_per_epoch=1, batch=1, lr=0.02,
                                           augment=False))


def shared_prep(src: Path, dst: Path) -> Path:
    """A fresh work folder that reuses `src`'s stand-ins and PREP folders, not its cells."""
    dst.mkdir(parents=True)
    for name in ("data", "prep"):
        (dst / name).symlink_to(src / name)
    return dst


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(work folder, table path) of the tiny benchmark built with the process pool."""
    root = tmp_path_factory.mktemp("bench")
    table = root / "tiny.parquet"
    build(tiny_config(), root / "work", table, backend="pool", workers=2)
    return root / "work", table
