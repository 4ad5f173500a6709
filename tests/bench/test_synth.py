"""The new Decathlon stand-ins: modality, channels, labels and anisotropy of each task."""

from __future__ import annotations

import numpy as np
import pytest

from mias.bench.tasks import get_task, task_names
from mias.data.synth import create_generator
from mias.data.synth.cohort import build_cohort

# Decathlon: channels, label count (with background), coarse/fine spacing ratio ≥
EXPECTED = {"heart": (1, 2, 1.0), "liver": (1, 3, 1.0), "lung": (1, 2, 1.0),
            "pancreas": (1, 3, 3.0), "hepaticvessel": (1, 3, 6.0), "spleen": (1, 2, 6.0),
            "colon": (1, 2, 6.0), "prostate": (2, 3, 6.0), "hippocampus-small": (1, 3, 1.0),
            "braintumour-small": (4, 4, 1.0)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_standin(name: str) -> None:
    channels, labels, ratio = EXPECTED[name]
    gen = create_generator(name)
    scans = build_cohort(gen, 4, seed=1)
    cases = [gen.generate(s) for s in scans]
    case = cases[0]
    assert case.image.shape[0] == channels == len(gen.info.channels)
    assert len(gen.info.labels) == labels
    assert case.image.shape[1:] == case.label.shape and max(case.label.shape) <= 32
    spacing = case.spacing
    assert max(spacing) / min(spacing) >= ratio * 0.95
    assert set(np.unique(np.concatenate([c.label.ravel() for c in cases]))) <= set(
        range(labels))
    assert any((c.label > 0).any() for c in cases)
    again = gen.generate(scans[0])
    np.testing.assert_array_equal(again.image, case.image)
    if gen.info.dicom_modality == "CT":
        assert case.image.dtype == np.int16 and case.image.min() <= -900


def test_every_task_has_a_registered_standin() -> None:
    assert len(task_names()) == 11
    for name in task_names():
        create_generator(get_task(name).standin)
