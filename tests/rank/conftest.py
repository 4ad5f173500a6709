"""A tiny prepared hippocampus (16×16×16, 8 cases) and budgets of a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.presets import load_preset

TINY = {
    "search": {"epochs": 2, "steps_per_epoch": 1, "batch": 2, "patch": [16, 16, 16],
               "paths_per_step": 2, "val_batch": 1, "warmup_epochs": 0},
    "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "patch": [16, 16, 16]},
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="session")
def rank_prep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rank")
    data = synthesize("hippocampus", root / "data", cases=8, seed=4)
    return prepare(data, root / "prep", PrepareConfig(input_shape=(16, 16, 16), seed=4,
                                                      workers=1))


@pytest.fixture
def tiny_rank_preset():
    return load_preset("demo", overrides=TINY)
