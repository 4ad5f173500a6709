"""MLP and random forest: drawn from whole scans, positions on the prepared grid, class
probabilities moved toward the true prior by the shift validation prefers."""

from __future__ import annotations

import numpy as np
import pytest

from mias.atomic import read_json
from mias.presets.models import EvaluateSettings
from mias.train.baselines.classical import (
    SHIFT_EXPONENTS,
    PriorShift,
    class_prior,
    scan_frame,
    train_classical,
    training_set,
    whole_scan,
)
from mias.train.baselines.features import positions, voxel_features
from mias.train.evaluate import _complete
from mias.train.original import load_original

SETTINGS = EvaluateSettings(voxel_samples=300, mlp_hidden=[8], mlp_epochs=30, rf_trees=5,
                            rf_depth=6)


def test_positions_of_a_crop_match_the_whole_scan():
    """A training crop and the evaluated whole scan give a voxel the same position."""
    whole, crop, offset, scale = (12, 10, 8), (8, 8, 8), (3, 1, 0), (8, 8, 8)
    full = positions(whole, scale)
    part = positions(crop, scale, offset, whole)
    box = tuple(slice(o, o + n) for o, n in zip(offset, crop, strict=True))
    for f, p in zip(full, part, strict=True):
        np.testing.assert_allclose(f[box], p)
    assert abs(float(full[0][(whole[0] - 1) // 2, 0, 0])) < 1 / scale[0]


def test_prepared_crop_is_a_window_of_the_whole_training_scan(hippo_prep, hippo_raw,
                                                              hippo_data):
    manifest = read_json(hippo_prep / "manifest.json")
    cid = hippo_data.splits["train"][0]
    record = next(c for c in manifest["cases"] if c["case_id"] == cid)
    pre = _complete(record["preprocessing"], manifest["preprocessing"])
    image, label = whole_scan(load_original(hippo_raw, hippo_data.records[cid], pre,
                                            hippo_data.task))
    assert image.shape[1:] == label.shape
    offset, extent = scan_frame(pre["crop_or_pad"])
    assert list(label.shape) == extent
    box = tuple(slice(o, o + n) for o, n in zip(offset, hippo_data.task.input_shape,
                                                 strict=True))
    np.testing.assert_array_equal(label[box], hippo_data.cases[cid].mask)
    crop = voxel_features(hippo_data.cases[cid].image, hippo_data.task.input_shape, offset,
                          extent)
    whole = voxel_features(image, hippo_data.task.input_shape)
    n_pos = hippo_data.task.spatial_dims
    np.testing.assert_allclose(
        crop[:, -n_pos:], whole[:, -n_pos:].reshape(*label.shape, n_pos)[box].reshape(-1, n_pos))


def test_class_prior_counts_the_background_of_the_whole_scan():
    mask = np.zeros((4, 4, 4), dtype=np.uint8)
    mask[0, 0, :2] = 1
    mask[1, 1, 1] = 2
    prior = class_prior([mask], [(8, 8, 8)], 3)
    np.testing.assert_allclose(prior, [(512 - 3) / 512, 2 / 512, 1 / 512])


class _Const:
    classes_ = np.array([0, 1])

    def predict_proba(self, x):
        return np.tile([0.4, 0.6], (len(x), 1))


def test_prior_shift_is_bayes_rule_between_the_priors():
    prior, share = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    same = PriorShift(_Const(), prior, share, 0.0)
    np.testing.assert_allclose(same.predict_proba(np.zeros((2, 1))), [[0.4, 0.6]] * 2)
    full = PriorShift(_Const(), prior, share, 1.0).predict_proba(np.zeros((1, 1)))[0]
    odds = (0.6 * 0.1 / 0.5) / (0.4 * 0.9 / 0.5)
    assert full[1] / full[0] == pytest.approx(odds)
    assert full.sum() == pytest.approx(1.0)


def test_half_foreground_draws_carry_the_true_prior_beside_them(hippo_data):
    x, y, prior = training_set(hippo_data, SETTINGS, seed=0)
    assert len(x) == len(y) == SETTINGS.voxel_samples * len(hippo_data.splits["train"])
    share = np.mean(y > 0)
    assert share >= 0.45                     # half the draws from the structures
    assert prior[1:].sum() < share           # the scans hold far less of them
    assert prior.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["rf", "mlp"])
def test_classical_baseline_is_seeded_and_records_its_prior_shift(hippo_data, name):
    a, estimator, n_features = train_classical(name, hippo_data, SETTINGS, seed=1)
    b, _, _ = train_classical(name, hippo_data, SETTINGS, seed=1)
    assert a.model.exponent in SHIFT_EXPONENTS
    image = hippo_data.split("val")[0].image
    pa, pb = a.segment(image), b.segment(image)
    assert pa.shape == (hippo_data.task.num_classes, *image.shape[1:])
    np.testing.assert_allclose(pa.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(pa, pb)
    assert n_features == voxel_features(image).shape[1]
    assert not isinstance(estimator, PriorShift)       # ONNX export gets the bare model
