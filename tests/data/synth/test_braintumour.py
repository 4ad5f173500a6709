from __future__ import annotations

import numpy as np
import pytest

from mias.data.synth import create_generator
from mias.data.synth.braintumour import CHANNELS
from mias.data.synth.cohort import build_cohort


@pytest.fixture(scope="module")
def cases() -> list:
    generator = create_generator("braintumour")
    return [generator.generate(s) for s in build_cohort(generator, 16, seed=2)]


def _mean(case, channel: str, region: np.ndarray) -> float:
    return float(case.image[CHANNELS.index(channel)][region].mean())


def test_labels_and_healthy_fraction(cases: list) -> None:
    healthy = [c for c in cases if c.target == 0]
    assert 0.1 <= len(healthy) / len(cases) <= 0.5
    for case in cases:
        assert case.image.shape == (4, 64, 64, 40) and case.image.dtype == np.int16
        assert case.target == int(case.label.any())
        assert set(np.unique(case.label)) <= {0, 1, 2, 3}
    assert any(set(np.unique(c.label)) == {0, 1, 2, 3} for c in cases)


def test_channel_specific_contrast(cases: list) -> None:
    case = next(c for c in cases if (c.label == 3).sum() > 20 and (c.label == 1).sum() > 20)
    brain = (case.image[1] > 0) & (case.label == 0)
    edema, enhancing = case.label == 1, case.label == 3
    for channel in ("FLAIR", "T2w"):
        assert _mean(case, channel, edema) > 1.2 * _mean(case, channel, brain)
    assert _mean(case, "T1w", edema) < _mean(case, "T1w", brain)
    gain = _mean(case, "t1gd", enhancing) / _mean(case, "T1w", enhancing)
    assert gain > 1.5 * _mean(case, "t1gd", brain) / _mean(case, "T1w", brain)


def test_skull_stripped_by_default_and_skull_on_request() -> None:
    scans = build_cohort(create_generator("braintumour"), 1, seed=0)
    stripped = create_generator("braintumour").generate(scans[0])
    head = create_generator("braintumour", skull_stripped=False).generate(scans[0])
    assert (stripped.image[0] == 0).mean() > 0.3
    assert (head.image[0] > 0).sum() > 1.3 * (stripped.image[0] > 0).sum()
    assert np.array_equal(stripped.label, head.label)
