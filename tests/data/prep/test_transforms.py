import numpy as np
import pytest

from mias.data.planning import PreprocessPlan
from mias.data.transforms import (
    apply_view_ops,
    canonical_xray_view,
    crop_or_pad,
    intensity_sample,
    normalize,
    preprocess_case,
    resample,
)


def _plan(**kw) -> PreprocessPlan:
    base = {
        "spatial_dims": 3,
        "modality": "MR",
        "target_spacing": (1.0, 1.0, 1.0),
        "input_shape": (16, 16, 16),
        "normalization": "mri",
    }
    return PreprocessPlan(**(base | kw))


def test_resample_is_an_exact_no_op_on_the_target_grid():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 8, 9, 10)).astype(np.float32)
    label = rng.integers(0, 3, size=(8, 9, 10)).astype(np.uint8)
    out, lab = resample(image, label, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(lab, label)


def test_resample_2x_doubles_the_grid_and_keeps_labels_integer():
    image = np.zeros((1, 4, 4, 4), np.float32)
    image[0, 1:3, 1:3, 1:3] = 10.0
    label = np.zeros((4, 4, 4), np.int16)
    label[1:3, 1:3, 1:3] = 2
    out, lab = resample(image, label, (2.0, 2.0, 2.0), (1.0, 1.0, 1.0))
    assert out.shape == (1, 8, 8, 8) and out.dtype == np.float32
    assert lab.shape == (8, 8, 8) and lab.dtype == np.int16
    assert set(np.unique(lab)) == {0, 2}
    assert (lab == 2).sum() == 8 * (label == 2).sum()  # physical volume preserved
    assert out.max() == pytest.approx(10.0) and out.min() == pytest.approx(0.0)


def test_resample_downsamples_anisotropically():
    image = np.ones((1, 10, 10, 4), np.float32)
    out, lab = resample(image, None, (0.5, 0.5, 3.0), (1.0, 1.0, 1.5))
    assert out.shape == (1, 5, 5, 8) and lab is None
    np.testing.assert_allclose(out, 1.0, atol=1e-5)


def test_mri_zscore_uses_the_nonzero_mask_per_channel():
    rng = np.random.default_rng(1)
    image = np.zeros((2, 10, 10, 10), np.float32)
    image[0, 2:8, 2:8, 2:8] = rng.normal(100, 20, size=(6, 6, 6))
    image[1, 2:8, 2:8, 2:8] = rng.normal(-5, 2, size=(6, 6, 6))
    out = normalize(image, _plan())
    mask = image[0] != 0
    for c in range(2):
        assert out[c][mask].mean() == pytest.approx(0.0, abs=1e-5)
        assert out[c][mask].std() == pytest.approx(1.0, abs=1e-4)
    assert np.all(out[:, ~mask] == 0)
    assert image[0, 5, 5, 5] != out[0, 5, 5, 5]  # input untouched


def test_ct_clip_and_zscore_with_fitted_stats():
    plan = _plan(
        modality="CT", normalization="ct", ct_clip=(-100.0, 300.0), ct_mean=50.0, ct_std=100.0
    )
    image = np.array([-1000.0, -100.0, 50.0, 300.0, 3000.0], np.float32).reshape(1, 5, 1, 1)
    out = normalize(image, plan)
    np.testing.assert_allclose(out.ravel(), [-1.5, -1.5, 0.0, 2.5, 2.5], atol=1e-6)


def test_ct_without_fitted_stats_is_refused_by_normalize():
    with pytest.raises(ValueError, match="fit_ct_intensity"):
        normalize(np.zeros((1, 2, 2, 2), np.float32), _plan(normalization="ct"))


def test_xray_zscore_per_image():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4) * 3 + 7
    out = normalize(
        image,
        _plan(spatial_dims=2, target_spacing=(1.0, 1.0), input_shape=(4, 4), normalization="xray"),
    )
    assert out.mean() == pytest.approx(0.0, abs=1e-6)
    assert out.std() == pytest.approx(1.0, abs=1e-5)


def _marked_xray() -> np.ndarray:
    image = np.zeros((1, 4, 6), np.float32)
    image[0, 0, 0] = 1.0  # first row, first column
    return image


def test_xray_is_flipped_when_rows_point_to_the_right():
    image = _marked_xray()
    label = (image[0] > 0).astype(np.uint8)
    out, lab, info = canonical_xray_view(
        image, label, {"view_position": "PA", "patient_orientation": "R\\F"}
    )
    assert info["ops"] == ["flip_axis0"]
    assert out[0, -1, 0] == 1.0 and lab[-1, 0] == 1
    assert info["orientation_before"] == "R\\F" and info["orientation_after"] == "L\\F"
    back, back_lab = apply_view_ops(out, lab, list(reversed(info["ops"])))
    np.testing.assert_array_equal(back, image)
    np.testing.assert_array_equal(back_lab, label)


def test_xray_transposed_and_upside_down_is_restored():
    image = _marked_xray()
    out, _, info = canonical_xray_view(
        image, None, {"ViewPosition": "AP", "PatientOrientation": ["H", "L"]}
    )
    assert info["ops"] == ["transpose", "flip_axis1"]
    assert out.shape == (1, 6, 4)
    assert out[0, 0, -1] == 1.0


def test_xray_lateral_and_canonical_views():
    image = _marked_xray()
    _, _, info = canonical_xray_view(
        image, None, {"view_position": "LL", "patient_orientation": "A\\F"}
    )
    assert info["ops"] == ["flip_axis0"] and info["target"] == "P\\F"
    out, _, info = canonical_xray_view(
        image, None, {"view_position": "PA", "patient_orientation": "L\\F"}
    )
    assert info["ops"] == []
    np.testing.assert_array_equal(out, image)


def test_xray_without_orientation_is_left_as_stored():
    image = _marked_xray()
    out, _, info = canonical_xray_view(image, None, {"view_position": "PA"})
    assert info["ops"] == [] and "missing" in info["note"]
    np.testing.assert_array_equal(out, image)


def test_crop_keeps_the_foreground():
    image = np.zeros((1, 40, 40, 40), np.float32)
    label = np.zeros((40, 40, 40), np.uint8)
    label[30:36, 2:8, 20:24] = 1
    image[0][label > 0] = 5.0
    out, lab, info = crop_or_pad(image, label, (16, 16, 16))
    assert out.shape == (1, 16, 16, 16) and lab.shape == (16, 16, 16)
    assert lab.sum() == label.sum()
    assert not info["foreground_cut"] and info["centred_on"] == "foreground"
    assert info["crop_start"] == [24, 0, 14]


def test_pad_uses_image_minimum_and_label_zero():
    image = np.full((2, 6, 6, 6), 3.0, np.float32)
    image[1] = -2.0
    label = np.ones((6, 6, 6), np.uint8)
    out, lab, info = crop_or_pad(image, label, (10, 6, 9))
    assert out.shape == (2, 10, 6, 9)
    assert info["pad"] == [[2, 2], [0, 0], [1, 2]]
    assert out[0, 0, 0, 0] == -2.0 and out[0, 5, 3, 4] == 3.0
    assert lab.sum() == 216 and lab[0].sum() == 0


def test_crop_without_label_is_centred():
    image = np.arange(20, dtype=np.float32).reshape(1, 20)[:, :, None].repeat(4, axis=2)
    out, lab, info = crop_or_pad(image, None, (10, 4))
    assert lab is None and info["centred_on"] == "image"
    np.testing.assert_array_equal(out[0, :, 0], np.arange(5, 15))


def test_preprocess_case_records_every_step():
    rng = np.random.default_rng(2)
    image = np.zeros((1, 20, 20, 10), np.float32)
    image[0, 4:16, 4:16, 2:8] = rng.normal(50, 5, size=(12, 12, 6))
    label = np.zeros((20, 20, 10), np.uint8)
    label[8:12, 8:12, 4:6] = 1
    plan = _plan(target_spacing=(1.0, 1.0, 1.0), input_shape=(16, 16, 24))
    out, lab, applied = preprocess_case(
        image, label, spacing=(1.0, 1.0, 2.0), attributes={}, plan=plan
    )
    assert out.shape == (1, 16, 16, 24) and lab.shape == (16, 16, 24)
    assert applied["resample"]["to_shape"] == [20, 20, 20]
    assert applied["crop_or_pad"]["pad"] == [[0, 0], [0, 0], [2, 2]]
    assert applied["normalize"]["method"] == "mri"
    assert len(applied["normalize"]["mean"]) == 1
    assert lab.sum() == 2 * label.sum()


def test_preprocess_ct_defers_normalisation_until_fitted():
    image = np.full((1, 8, 8, 8), -1000.0, np.float32)
    plan = _plan(modality="CT", normalization="ct", input_shape=(8, 8, 8))
    out, _, applied = preprocess_case(
        image, None, spacing=(1.0, 1.0, 1.0), attributes={}, plan=plan
    )
    assert applied["normalize"] == {"method": "ct", "deferred": True}
    assert out.min() == -1000.0


def test_preprocess_xray_applies_canonical_view():
    image = _marked_xray()
    plan = _plan(
        spatial_dims=2,
        modality="DX",
        target_spacing=(1.0, 1.0),
        input_shape=(4, 8),
        normalization="xray",
    )
    out, _, applied = preprocess_case(
        image, None, spacing=(1.0, 1.0), attributes={"patient_orientation": "R\\F"}, plan=plan
    )
    assert applied["view"]["ops"] == ["flip_axis0"]
    assert out.shape == (1, 4, 8)
    assert np.argmax(out[0]) == np.ravel_multi_index((3, 1), (4, 8))


def test_intensity_sample_prefers_the_labelled_foreground():
    image = np.zeros((1, 10, 10), np.float32)
    image[0, :5] = 100.0
    label = np.zeros((10, 10), np.uint8)
    label[:5] = 1
    sample = intensity_sample(image, label, np.random.default_rng(0), 20)
    assert sample.shape == (20,) and np.all(sample == 100.0)
    fallback = intensity_sample(image, None, np.random.default_rng(0), 1000)
    assert fallback.size == 50 and np.all(fallback == 100.0)
    again = intensity_sample(
        np.random.default_rng(5).normal(size=(1, 10, 10)), None, np.random.default_rng(0), 10
    )
    np.testing.assert_array_equal(
        again,
        intensity_sample(
            np.random.default_rng(5).normal(size=(1, 10, 10)), None, np.random.default_rng(0), 10
        ),
    )


@pytest.mark.parametrize("normalization", ["mri", "xray"])
def test_zscore_matches_monai_normalize_intensity(normalization):
    from monai.transforms import NormalizeIntensity

    rng = np.random.default_rng(0)
    image = rng.normal(50, 10, size=(2, 12, 10, 8)).astype(np.float32)
    image[:, :3] = 0
    plan = PreprocessPlan(spatial_dims=3, modality="MR", target_spacing=(1.0, 1.0, 1.0),
                          input_shape=(12, 10, 8), normalization=normalization)
    nonzero = normalization == "mri"
    expected = np.asarray(NormalizeIntensity(nonzero=nonzero, channel_wise=True)(image.copy()))
    np.testing.assert_allclose(normalize(image, plan), expected, rtol=1e-5, atol=1e-5)


def test_crop_or_pad_matches_monai_crop_and_pad():
    from monai.transforms import BorderPad, SpatialCrop

    rng = np.random.default_rng(1)
    image = rng.normal(size=(1, 10, 7, 6)).astype(np.float32)
    label = np.zeros((10, 7, 6), np.uint8)
    label[2:5, 1:4, 1:3] = 1
    out, out_label, info = crop_or_pad(image, label, (8, 9, 6))
    slices = [slice(a, b) for a, b in zip(info["crop_start"], info["crop_stop"], strict=True)]
    border = [p for pair in info["pad"] for p in pair]
    expected = BorderPad(border, mode="constant", value=info["pad_value"])(
        SpatialCrop(roi_slices=slices)(image))
    np.testing.assert_array_equal(out, np.asarray(expected))
    expected_label = BorderPad(border, mode="constant", value=0)(
        SpatialCrop(roi_slices=slices)(label[None]))
    np.testing.assert_array_equal(out_label, np.asarray(expected_label)[0])
