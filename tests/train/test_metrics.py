"""Every metric against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mias.train.metrics import (
    binary_metrics,
    largest_component,
    roc_auc,
    segmentation_case,
    volume_errors,
)

NAMES = ("background", "a", "b")


def _case(pred, truth, spacing=(1.0, 1.0, 1.0), min_voxels=1):
    return segmentation_case(pred, truth, spacing, NAMES, tolerance_mm=1.0,
                             min_voxels=min_voxels)


def _cube():
    truth = np.zeros((6, 6, 6), np.uint8)
    truth[1:3, 1:3, 1:3] = 1          # 8 voxels of "a"
    pred = truth.copy()
    pred[1:3, 3, 1:3] = 1             # 4 extra voxels of "a" along axis 1
    return pred, truth


def test_dice_jaccard_hd95_volume_by_hand():
    pred, truth = _cube()
    m = _case(pred, truth, spacing=(1.0, 2.0, 1.0))
    assert m["dice_a"] == pytest.approx(2 * 8 / (12 + 8))          # 0.8
    assert m["jaccard_a"] == pytest.approx(8 / 12)
    assert m["hd95_mm_a"] == pytest.approx(2.0)                      # one voxel, 2 mm axis
    assert m["volume_true_mm3_a"] == pytest.approx(8 * 2.0)
    assert m["volume_pred_mm3_a"] == pytest.approx(12 * 2.0)
    assert m["present_true_a"] == 1.0 and m["present_pred_a"] == 1.0


def test_structure_missing_from_prediction_and_absent_from_both():
    _, truth = _cube()
    pred = np.zeros_like(truth)
    m = _case(pred, truth)
    assert m["dice_a"] == 0.0 and m["jaccard_a"] == 0.0 and m["nsd_a"] == 0.0
    assert math.isnan(m["hd95_mm_a"])                  # undefined, never averaged in
    assert m["present_pred_a"] == 0.0
    # "b" is in neither mask: undefined (nnU-Net), excluded from means and counted
    assert math.isnan(m["dice_b"]) and math.isnan(m["jaccard_b"]) and m["empty_b"] == 1.0
    assert m["volume_true_mm3_b"] == 0.0 and m["present_true_b"] == 0.0
    assert m["empty_a"] == 0.0


def test_an_empty_prediction_is_excluded_where_the_structure_is_absent_and_zero_elsewhere():
    """The all-background network: nothing to gain on cases without the structure, 0 on
    every case that has it; the summary's mean and its count follow."""
    from mias.records import TaskSpec
    from mias.train.summary import case_dice, summarise

    present = _cube()[1]
    absent = np.zeros_like(present)
    rows = [_case(np.zeros_like(present), truth) | {"sex": "F", "age_bin": "40-60",
                                                     "manufacturer": "x", "field_strength": "3"}
            for truth in (present, absent, absent)]
    assert rows[0]["dice_a"] == 0.0
    assert all(math.isnan(r["dice_a"]) for r in rows[1:])
    assert case_dice(rows, ["a"])[0] == 0.0 and np.isnan(case_dice(rows, ["a"])[1:]).all()
    task = TaskSpec(kind="segmentation", spatial_dims=3, in_channels=1, input_shape=(8, 8, 8),
                    num_classes=3, label_names=("background", "a", "b"), modality="MR",
                    spacing=(1.0, 1.0, 1.0))
    out = summarise(rows, task, beta=1.0, resamples=50, confidence=0.95, seed=0)
    assert out["structures"]["a"]["dice"]["value"] == 0.0
    assert out["structures"]["a"]["dice"]["empty_cases"] == 2
    assert out["structures"]["b"]["dice"]["empty_cases"] == 3
    assert out["dice"]["value"] == 0.0 and out["failed"]


def test_the_search_score_leaves_out_what_neither_mask_holds():
    import torch

    from mias.train.scoring import dice

    truth = torch.zeros(2, 4, 4, dtype=torch.long)
    truth[0, :2, :2] = 1                      # class 1 in case 0 only; class 2 nowhere
    perfect = dice(truth.clone(), truth, 3)
    assert perfect == 1.0                     # not diluted or inflated by class 2
    nothing = dice(torch.zeros_like(truth), truth, 3)
    assert nothing == 0.0                     # empty prediction: 0 where the class is
    assert dice(torch.zeros_like(truth), torch.zeros_like(truth), 3) == 1.0


def test_detection_minimum_size():
    truth = np.zeros((8, 8, 8), np.uint8)
    pred = truth.copy()
    pred[0, 0, 0] = 1                          # a 1-voxel speck
    pred[4:6, 4:6, 4] = 1                      # a 4-voxel component
    assert largest_component(pred == 1) == 4
    assert _case(pred, truth, min_voxels=4)["present_pred_a"] == 1.0
    assert _case(pred, truth, min_voxels=5)["present_pred_a"] == 0.0


def test_binary_metrics_by_hand():
    y_true = [1, 1, 1, 0, 0, 0]
    y_pred = [1, 1, 0, 1, 0, 0]               # TP 2, FN 1, FP 1, TN 2
    m = binary_metrics(y_true, y_pred, beta=2.0)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["f_beta"] == pytest.approx(5 * (2 / 3) ** 2 / (4 * 2 / 3 + 2 / 3))
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    empty = binary_metrics([0, 0], [0, 0], beta=1.0)
    assert empty["precision"] == 0.0 and empty["recall"] == 0.0


def test_roc_auc_by_hand():
    # positives score 0.8, 0.4; negatives 0.6, 0.2: 3 of 4 pairs ordered → 0.75
    assert roc_auc([1, 1, 0, 0], np.array([0.8, 0.4, 0.6, 0.2])) == pytest.approx(0.75)
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6], [0.8, 0.2]])
    assert roc_auc([1, 1, 0, 0], probs) == pytest.approx(0.75)
    assert math.isnan(roc_auc([1, 1], np.array([0.3, 0.9])))


def test_volume_errors_and_bland_altman_by_hand():
    m = volume_errors([100.0, 200.0, 0.0], [110.0, 180.0, 5.0])
    diffs = np.array([10.0, -20.0, 5.0])
    assert m["abs_volume_error_mm3"] == pytest.approx(35 / 3)
    assert m["rel_volume_error"] == pytest.approx((0.1 + 0.1) / 2)   # empty truth skipped
    assert m["bland_altman_bias_mm3"] == pytest.approx(diffs.mean())
    sd = diffs.std(ddof=1)
    assert m["bland_altman_loa_mm3"] == pytest.approx(
        [diffs.mean() - 1.96 * sd, diffs.mean() + 1.96 * sd])


def test_soft_dice_pools_the_batch_so_a_patch_without_the_structure_counts_its_false_positives():
    import torch

    from mias.train.scoring import soft_dice

    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1                       # 4 voxels in the first patch, none in the second
    exact = torch.full((2, 2, 4, 4), -20.0)
    exact[:, 0] = 20.0
    exact[0, 1, :2, :2], exact[0, 0, :2, :2] = 20.0, -20.0
    assert soft_dice(exact, target) == pytest.approx(1.0, abs=1e-4)
    noisy = exact.clone()
    noisy[1, 1, :2, :2], noisy[1, 0, :2, :2] = 20.0, -20.0   # 4 false positives in patch 2
    assert soft_dice(noisy, target) == pytest.approx(2 * 4 / (4 + 8), abs=1e-4)
