"""MED-NAS-Bench's segmentation metrics follow nnU-Net's convention for empty structures:
a network that predicts nothing is never rewarded for it."""

from __future__ import annotations

import math

import pytest
import torch

from mias.bench.metrics import segmentation_metrics
from mias.records import TaskSpec

TASK = TaskSpec(kind="segmentation", spatial_dims=2, in_channels=1, input_shape=(4, 4),
                num_classes=2, label_names=("background", "lesion"), modality="CT",
                spacing=(1.0, 1.0))


def _logits(labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, 2).movedim(-1, 1).float() * 10.0


def _metrics(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    return segmentation_metrics(_logits(pred), truth, TASK, lesion="lesion", min_voxels=1)


def test_an_all_background_prediction_on_a_case_without_the_structure_is_left_out():
    truth = torch.zeros(2, 4, 4, dtype=torch.long)
    truth[0, :2, :2] = 1                                      # case 0 has it, case 1 does not
    out = _metrics(truth.clone(), truth)
    assert out["dice_by_structure"]["lesion"] == pytest.approx(1.0)
    assert out["empty_cases_by_structure"] == {"lesion": 1}
    assert math.isnan(_metrics(torch.zeros_like(truth[1:]), truth[1:])["dice"])


def test_predicting_nothing_scores_zero_where_the_structure_is_present():
    truth = torch.zeros(2, 4, 4, dtype=torch.long)
    truth[0, :2, :2] = 1
    out = _metrics(torch.zeros_like(truth), truth)
    assert out["dice"] == 0.0 and out["jaccard"] == 0.0
    assert out["detection"]["f1"] == 0.0
