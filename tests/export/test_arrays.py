"""The numpy preprocessing of `mias predict` equals the MONAI/SciPy path of `prepare`."""

from __future__ import annotations

import numpy as np
import pytest

from mias.data import transforms
from mias.data.planning import PreprocessPlan
from mias.export import arrays


@pytest.mark.parametrize(("spacing", "target"), [((1.0, 1.0, 1.0), (0.7, 1.3, 2.0)),
                                                 ((0.5, 0.5, 3.0), (1.0, 1.0, 1.0))])
def test_resample_matches_prepare(spacing, target):
    image = np.random.default_rng(0).normal(size=(2, 17, 12, 9)).astype(np.float32)
    expected, _ = transforms.resample(image, None, spacing, target)
    got = arrays.resample_image(image, spacing, target)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_normalisation_and_crop_pad_match_prepare():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 500, size=(1, 20, 9, 14)).astype(np.float32)
    image[:, :3] = 0
    got, placement = arrays.centre_crop_or_pad(image, (16, 12, 14))
    expected, _, info = transforms.crop_or_pad(image, None, (16, 12, 14))
    np.testing.assert_array_equal(got, expected)
    assert [list(p) for p in placement.pad] == info["pad"]
    plan = PreprocessPlan(3, "MR", (1.0,) * 3, (16, 12, 14), "mri")
    np.testing.assert_allclose(arrays.normalize(got, plan.to_dict()),
                               transforms.normalize(expected, plan), atol=1e-5)


def test_sliding_window_covers_every_voxel_and_unpads():
    image = np.random.default_rng(2).normal(size=(1, 21, 30, 9)).astype(np.float32)
    padded, placement = arrays.pad_to_at_least(image, (8, 8, 16))
    assert padded.shape[1:] == (21, 30, 16)
    out = arrays.sliding_window(lambda b: b * 2, padded, (8, 8, 16), 0.5)
    np.testing.assert_allclose(arrays.unpad(out, placement), image * 2, rtol=1e-6)
    assert arrays.window_starts(21, 8, 0.5) == [0, 4, 8, 12, 13]
