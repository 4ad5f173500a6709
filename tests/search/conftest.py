"""Tiny prepared datasets for search tests: small inputs so a search step takes milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.presets import load_preset
from mias.records import TaskSpec
from mias.space import BlockChoice, SearchSpace
from mias.space.geometry import plan_stages

TINY = {
    "search": {"epochs": 3, "steps_per_epoch": 4, "batch": 2, "patch_voxels": 4096,
               "paths_per_step": 3, "val_batch": 1, "warmup_epochs": 0, "race_steps": 2,
               "prune": [{"at": 0.25, "keep": 4}, {"at": 0.5, "keep": 2},
                         {"at": 0.75, "keep": 1}],
               "hpo": {"enabled": True, "at_epoch": 1, "trials": 2, "trial_steps": 1,
                       "report_every": 1}},
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs torch on one thread."""


def _prep(root: Path, task: str, shape: tuple[int, ...], cases: int, seed: int,
          labels: str | None = None) -> Path:
    data = synthesize(task, root / "data", cases=cases, seed=seed)
    config = PrepareConfig(input_shape=shape, seed=seed, workers=1,
                           labels_csv=None if labels is None else data / labels)
    return prepare(data, root / "prep", config)


@pytest.fixture(scope="session")
def tiny_prep(tmp_path_factory) -> Path:
    return _prep(tmp_path_factory.mktemp("hippo"), "hippocampus", (16, 16, 16), 8, 1)


@pytest.fixture(scope="session")
def tiny_xray_prep(tmp_path_factory) -> Path:
    """Chest X-ray finding classification (the label table, not the masks)."""
    return _prep(tmp_path_factory.mktemp("xray"), "xray", (32, 32), 12, 2, "labels_finding.csv")


@pytest.fixture(scope="session")
def tiny_brain_prep(tmp_path_factory) -> Path:
    return _prep(tmp_path_factory.mktemp("brain"), "braintumour", (16, 16, 16), 6, 3)


@pytest.fixture
def tiny_preset():
    return load_preset("demo", overrides=TINY)


@pytest.fixture
def two_depths() -> SearchSpace:
    """Depths 1 and 2, 2D 16×16: two plain-convolution widths per layer."""
    def conv(width: int) -> BlockChoice:
        return BlockChoice(op="conv", kernel=(3, 3), width=width)

    task = TaskSpec(kind="segmentation", spatial_dims=2, in_channels=1, input_shape=(16, 16),
                    num_classes=2, label_names=("background", "lesion"), modality="CT",
                    spacing=(1.0, 1.0))
    return SearchSpace(task=task, stem_width=4, depths=(1, 2),
                       stages=tuple(plan_stages(task.input_shape, task.spacing, 2)),
                       encoder=((conv(4), conv(8)), (conv(8), conv(16)), (conv(8), conv(16))),
                       decoder=((conv(4), conv(8)), (conv(8), conv(16))))
