"""Shared fixtures: the three task kinds of the acceptance criteria, at realistic and at
small (fast-to-run) input shapes, and single-threaded torch for stable test times."""

from __future__ import annotations

import pytest

from mias.records import TaskSpec
from mias.space import SearchSpace, select_search_space

HIPPO_LABELS = ("background", "anterior", "posterior")


def hippocampus(shape: tuple[int, ...] = (40, 56, 40)) -> TaskSpec:
    """3D segmentation, isotropic 1 mm (Decathlon Task04-like)."""
    return TaskSpec("segmentation", 3, 1, shape, 3, HIPPO_LABELS, "MR", (1.0, 1.0, 1.0))


def anisotropic(shape: tuple[int, ...] = (56, 56, 14)) -> TaskSpec:
    """3D segmentation at 0.8×0.8×3.0 mm: the third (RAS superior) axis is coarse."""
    return TaskSpec("segmentation", 3, 2, shape, 2, ("background", "lesion"), "MR",
                    (0.8, 0.8, 3.0), channel_names=("t1", "t2"))


def xray(shape: tuple[int, ...] = (256, 256)) -> TaskSpec:
    """2D classification, 1 channel, 2 classes (chest X-ray-like)."""
    return TaskSpec("classification", 2, 1, shape, 2, ("normal", "abnormal"), "DX", (0.5, 0.5),
                    target_metric="f_beta", beta=0.5)


TASKS = {"hippocampus": hippocampus, "anisotropic": anisotropic, "xray": xray}
SMALL_TASKS = {
    "hippocampus": hippocampus((16, 24, 16)),
    "anisotropic": anisotropic((32, 32, 8)),
    "xray": xray((32, 32)),
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs torch on one thread."""


@pytest.fixture
def tasks():
    """Task builders by name; each takes an optional input shape."""
    return TASKS


@pytest.fixture(params=sorted(SMALL_TASKS), scope="module")
def small_space(request) -> SearchSpace:
    return select_search_space(SMALL_TASKS[request.param])
