"""The inverse of the recorded preprocessing puts a prediction back on the original grid."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mias.data.planning import plan_preprocessing
from mias.data.transforms import preprocess_case
from mias.records import CaseRecord
from mias.train.inverse import invert_prediction, to_file_orientation, uncrop, unpad


def _onehot(mask: np.ndarray, classes: int = 2) -> np.ndarray:
    return np.stack([(mask == c).astype(np.float32) for c in range(classes)])


def _blob_case(shape=(30, 20, 12)):
    image = np.random.default_rng(0).normal(100, 5, (1, *shape)).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[8:14, 5:9, 4:8] = 1
    image[0][label > 0] += 200
    return image, label


@pytest.mark.parametrize(("spacing", "input_shape"), [
    ((1.0, 1.0, 1.0), (24, 24, 16)),      # crop axis 0, pad axes 1 and 2
    ((0.5, 1.0, 2.0), (16, 24, 24)),      # resampled 2× down / 2× up, then crop/pad
])
def test_prepared_label_inverts_onto_the_original_grid(spacing, input_shape):
    image, label = _blob_case()
    rec = CaseRecord("c1", "s1", ("c1.nii.gz",), "MR", spacing, label.shape)
    plan = plan_preprocessing([rec], spatial_dims=3, input_shape=input_shape)
    plan = plan.__class__(**{**plan.__dict__, "target_spacing": (1.0, 1.0, 1.0)})
    _, prepared, pre = preprocess_case(image, label, spacing=spacing, attributes={}, plan=plan)
    assert prepared.shape == input_shape
    back = invert_prediction(_onehot(prepared), pre)
    assert back.shape == label.shape
    overlap = 2 * np.sum((back == 1) & (label == 1)) / (np.sum(back == 1) + np.sum(label == 1))
    assert overlap > (0.999 if spacing == (1.0, 1.0, 1.0) else 0.8)
    centre = np.argwhere(back == 1).mean(0)
    assert np.allclose(centre, np.argwhere(label == 1).mean(0), atol=1.0)


def test_unpad_and_uncrop_are_exact_on_the_identity_grid():
    image, label = _blob_case()
    rec = CaseRecord("c1", "s1", ("c1.nii.gz",), "MR", (1.0, 1.0, 1.0), label.shape)
    plan = plan_preprocessing([rec], spatial_dims=3, input_shape=(24, 24, 16))
    _, prepared, pre = preprocess_case(image, label, spacing=(1.0,) * 3, attributes={},
                                       plan=plan)
    assert unpad(prepared, pre).shape == tuple(
        b - a for a, b in zip(pre["crop_or_pad"]["crop_start"], pre["crop_or_pad"]["crop_stop"],
                              strict=True))
    assert np.array_equal(uncrop(prepared[None], pre)[0], label)


def test_file_orientation_round_trip_keeps_affine_and_shape(tmp_path):
    from mias.data.readers.nifti import load_mask

    _, label = _blob_case()
    lps = np.diag([-1.0, -1.0, 2.0, 1.0])          # file axes: L→R flipped, P→A flipped
    lps[:3, 3] = [10.0, -5.0, 3.0]
    path = tmp_path / "label.nii.gz"
    nib.save(nib.Nifti1Image(label, lps), str(path))
    canonical, info = load_mask(path)
    back = to_file_orientation(np.asarray(canonical), info.grid.source_affine)
    assert back.shape == label.shape and np.array_equal(back, label)
    written = tmp_path / "pred.nii.gz"
    nib.save(nib.Nifti1Image(back.astype(np.uint8), info.grid.source_affine), str(written))
    again = nib.load(str(written))
    assert again.shape == label.shape and np.allclose(again.affine, lps)
