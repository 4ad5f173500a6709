"""The classification threshold: chosen on validation for the preset's F-β, it recovers a
classifier that ranks perfectly but whose probabilities sit below 0.5."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, fbeta_score
from torch import nn

from mias.records import TaskSpec
from mias.train.calibrate import inference_record
from mias.train.data import Case, PreparedData
from mias.train.threshold import (
    apply_threshold,
    balanced_class_weights,
    choose_threshold,
    f_beta,
    loss_class_weights,
)


def _shifted(n_pos: int, n_neg: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Perfect ranking, shifted prior: every positive above every negative, all below 0.5."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    p = np.r_[rng.uniform(0.2, 0.4, n_pos), rng.uniform(0.0, 0.15, n_neg)]
    return y, p


def test_threshold_recovers_f1_of_a_perfect_ranking_with_a_shifted_prior():
    y_val, p_val = _shifted(4, 16, seed=0)
    decision = choose_threshold(y_val, p_val, beta=1.0)
    assert decision["val_score_argmax"] == 0.0 and decision["val_score"] == 1.0
    y_test, p_test = _shifted(6, 30, seed=1)
    probs = np.stack([1 - p_test, p_test], axis=1)
    assert f1_score(y_test, probs.argmax(1)) == 0.0
    assert f1_score(y_test, apply_threshold(probs, decision)) == 1.0


def test_a_well_calibrated_classifier_keeps_the_argmax():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.05, 0.1, 0.2, 0.8, 0.9, 0.95])
    assert choose_threshold(y, p, beta=2.0)["threshold"] == 0.5


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_f_beta_is_scikit_learns(beta):
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    assert f_beta(y, pred, beta) == pytest.approx(fbeta_score(y, pred, beta=beta))


def test_recall_weighted_beta_moves_the_threshold_down():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.15, 200), 0, 1)
    assert choose_threshold(y, p, 2.0)["threshold"] <= choose_threshold(y, p, 0.5)["threshold"]


def test_balanced_weights_are_inverse_frequency():
    w = balanced_class_weights([0] * 30 + [1] * 10, 2)
    assert w[1] / w[0] == pytest.approx(3.0) and np.mean(w) == pytest.approx(1.0)


def test_only_classification_training_is_class_weighted():
    cls = TaskSpec("classification", 2, 1, (8, 8), 2, ("no", "yes"), "DX", (1.0, 1.0))
    seg = TaskSpec("segmentation", 2, 1, (8, 8), 2, ("bg", "fg"), "DX", (1.0, 1.0))
    assert loss_class_weights(cls, [0, 0, 0, 1]) == pytest.approx([0.5, 1.5])
    assert loss_class_weights(seg, [None, None]) is None


class _Ranker(nn.Module):
    """Logits whose positive probability is the image mean: perfect ranking, all < 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.flatten(1).mean(1).clamp(1e-4, 1 - 1e-4)
        return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], 1)


def test_final_training_records_a_threshold_that_recovers_f1():
    task = TaskSpec("classification", 2, 1, (8, 8), 2, ("no finding", "finding"), "DX",
                    (1.0, 1.0), target_metric="f_beta")
    y, p = _shifted(3, 9, seed=5)
    cases = {f"c{i}": Case(f"c{i}", np.full((1, 8, 8), v, np.float32), None, int(t))
             for i, (t, v) in enumerate(zip(y, p, strict=True))}
    data = PreparedData(root=None, task=task, space=None, records={},
                        splits={"train": ("c0",), "val": tuple(cases)}, cases=cases,
                        fingerprint="t")
    record = inference_record(_Ranker(), data, (8, 8), beta=1.0)
    assert record["window"] == [8, 8]
    threshold = record["threshold"]
    assert threshold["val_score_argmax"] == 0.0 and threshold["val_score"] == 1.0
    assert p[y == 0].max() < threshold["threshold"] < p[y == 1].min()
