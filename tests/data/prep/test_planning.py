import math

import numpy as np
import pytest

from mias.data.planning import (
    PreprocessPlan,
    fit_ct_intensity,
    normalization_for,
    parse_shape,
    plan_preprocessing,
)
from mias.errors import InputError


def test_target_spacing_is_the_per_axis_median(make_record):
    recs = [
        make_record(f"c{i}", spacing=s, shape=(40, 40, 40))
        for i, s in enumerate([(0.8, 0.8, 1.0), (1.0, 1.0, 1.2), (1.2, 0.9, 1.4)])
    ]
    plan = plan_preprocessing(recs, spatial_dims=3)
    assert plan.target_spacing == pytest.approx((1.0, 0.9, 1.2))
    assert plan.anisotropic_axis is None
    assert "median" in plan.reasons["target_spacing"]


def test_anisotropic_axis_uses_its_10th_percentile(make_record):
    thick = [2.0, 3.0, 3.0, 3.0, 3.5, 4.0, 5.0, 5.0, 5.0, 6.0]
    recs = [
        make_record(f"c{i}", spacing=(0.8, 0.8, z), shape=(64, 64, 14)) for i, z in enumerate(thick)
    ]
    plan = plan_preprocessing(recs, spatial_dims=3)
    assert plan.anisotropic_axis == 2
    assert plan.target_spacing[:2] == pytest.approx((0.8, 0.8))
    assert plan.target_spacing[2] == pytest.approx(np.percentile(thick, 10))
    assert "anisotropy" in plan.reasons["target_spacing"]


def test_input_shape_is_median_rounded_up_to_multiples(make_record):
    recs = [make_record(f"c{i}", spacing=(1.0, 1.0, 1.0), shape=(35 + i, 50, 10)) for i in range(3)]
    plan = plan_preprocessing(recs, spatial_dims=3)
    assert plan.input_shape == (40, 56, 12)  # 36→40, 50→56 (multiples of 8); 10→12 (of 4)


def test_input_shape_follows_resampling(make_record):
    recs = [
        make_record(f"c{i}", spacing=sp, shape=sh)
        for i, (sp, sh) in enumerate(
            [((1.0, 1.0), (100, 100)), ((2.0, 2.0), (50, 50)), ((1.0, 1.0), (90, 90))]
        )
    ]
    plan = plan_preprocessing(recs, spatial_dims=2, max_voxels=10**6)
    assert plan.target_spacing == (1.0, 1.0)
    assert plan.input_shape == (104, 104)


def test_input_shape_is_bounded_for_the_edge_device(make_record):
    recs = [make_record("xr", modality="DX", spacing=(0.2, 0.2), shape=(2000, 2500))]
    plan = plan_preprocessing(recs, spatial_dims=2)
    assert math.prod(plan.input_shape) <= 256**2
    assert all(s % 8 == 0 for s in plan.input_shape)
    ratio = plan.input_shape[1] / plan.input_shape[0]
    assert ratio == pytest.approx(2500 / 2000, rel=0.1)
    # the spacing grows so the whole radiograph fits the bounded shape
    extent = (2000 * 0.2, 2500 * 0.2)
    fitted = [e / t for e, t in zip(extent, plan.target_spacing, strict=True)]
    assert fitted == pytest.approx(plan.input_shape)
    assert "edge-device bound" in plan.reasons["input_shape"]


def test_given_input_shape_is_kept(make_record):
    plan = plan_preprocessing([make_record()], spatial_dims=3, input_shape=(16, 24, 32))
    assert plan.input_shape == (16, 24, 32)
    assert plan.reasons["input_shape"] == "given by the user"
    with pytest.raises(InputError):
        plan_preprocessing([make_record()], spatial_dims=3, input_shape=(16, 24))


def test_2d_plan_accepts_single_slice_volumes(make_record):
    rec = make_record(spacing=(0.5, 0.5, 1.0), shape=(64, 64, 1), modality="CR")
    plan = plan_preprocessing([rec], spatial_dims=2)
    assert plan.target_spacing == (0.5, 0.5)
    assert plan.normalization == "xray"


@pytest.mark.parametrize(
    ("modality", "rule"),
    [
        ("CT", "ct"),
        ("MR", "mri"),
        ("FLAIR", "mri"),
        ("MRI", "mri"),
        ("DX", "xray"),
        ("CR", "xray"),
        ("PT", "zscore"),
    ],
)
def test_normalization_follows_modality(modality, rule):
    assert normalization_for(modality) == rule


def test_parse_shape():
    assert parse_shape("32x48x32") == (32, 48, 32)
    assert parse_shape("256,256", spatial_dims=2) == (256, 256)


@pytest.mark.parametrize("junk", ["", "32x", "axb", "32x-4x8", "0x32x32", "1x2x3x4", "32.5x32"])
def test_parse_shape_rejects_junk(junk):
    with pytest.raises(InputError) as err:
        parse_shape(junk)
    assert "--input-shape" in str(err.value) and "Fix:" in str(err.value)


def test_parse_shape_checks_dimensions():
    with pytest.raises(InputError, match="2D"):
        parse_shape("32x32x32", spatial_dims=2)


def test_fit_ct_intensity_clips_then_zscores(make_record):
    plan = plan_preprocessing([make_record(modality="CT")], spatial_dims=3)
    samples = [np.linspace(-1000, 1000, 1001), np.array([5000.0])]
    fitted = fit_ct_intensity(plan, samples)
    pooled = np.concatenate(samples)
    lo, hi = np.percentile(pooled, [0.5, 99.5])
    assert fitted.ct_clip == pytest.approx((lo, hi))
    clipped = np.clip(pooled, lo, hi)
    assert fitted.ct_mean == pytest.approx(clipped.mean())
    assert fitted.ct_std == pytest.approx(clipped.std())
    assert "ct_intensity" in fitted.reasons


def test_fit_ct_intensity_without_samples_is_an_input_error(make_record):
    plan = plan_preprocessing([make_record(modality="CT")], spatial_dims=3)
    with pytest.raises(InputError):
        fit_ct_intensity(plan, [])


def test_plan_round_trips(make_record):
    plan = plan_preprocessing([make_record(modality="CT")], spatial_dims=3)
    plan = fit_ct_intensity(plan, [np.arange(100.0)])
    assert PreprocessPlan.from_dict(plan.to_dict()) == plan
