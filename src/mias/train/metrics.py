"""Clinical metrics per case and over cases, computed by MONAI, scikit-learn and SciPy.

Segmentation (per structure, in the original grid, with its spacing in mm): Dice and
Jaccard (MONAI) with nnU-Net's convention for empty structures: a structure absent from
both the label and the prediction is undefined for that case (NaN, left out of every mean
and counted as `empty_<structure>`), and a structure present in only one of them scores 0,
so a network that predicts nothing scores 0 on every case that has the structure; HD95 and
normalised surface Dice at a tolerance in mm (MONAI; NaN when a mask is empty, where the
distance is undefined — counted, never averaged in); volumes in mm³. Detection from
segmentation: a structure is detected when the prediction has a connected component
(SciPy, full connectivity) of at least `min_voxels` voxels. Across
cases: precision, recall, F1, F-β, balanced accuracy and ROC AUC (scikit-learn), absolute
and relative volume errors, Bland–Altman bias with 95% limits of agreement
(bias ± 1.96 SD of the differences).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.metrics import (
    compute_dice,
    compute_hausdorff_distance,
    compute_iou,
    compute_surface_dice,
)
from scipy import ndimage
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    fbeta_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from mias.train.scoring import empty_as_nan, one_hot

LOA_Z = 1.96


def _onehot(mask: np.ndarray, classes: int) -> torch.Tensor:
    return one_hot(torch.from_numpy(np.asarray(mask, dtype=np.int64))[None], classes)


def largest_component(mask: np.ndarray) -> int:
    """Voxels of the largest connected component (full connectivity)."""
    labels, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    return int(np.bincount(labels.ravel())[1:].max()) if n else 0


def segmentation_case(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float],
                      label_names: Sequence[str], *, tolerance_mm: float,
                      min_voxels: int) -> dict[str, float]:
    """Per-structure figures of one case; keys `<metric>_<structure>`."""
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and label {truth.shape} differ in shape")
    classes = len(label_names)
    p, t = _onehot(pred, classes), _onehot(truth, classes)
    spacing = [float(s) for s in spacing]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dice = empty_as_nan(compute_dice(p, t, include_background=False,
                                         ignore_empty=False), p, t)[0]
        iou = empty_as_nan(compute_iou(p, t, include_background=False,
                                       ignore_empty=False), p, t)[0]
        hd95 = compute_hausdorff_distance(p, t, include_background=False, percentile=95,
                                          spacing=spacing)[0]
        nsd = compute_surface_dice(p, t, [tolerance_mm] * (classes - 1),
                                   include_background=False, spacing=spacing)[0]
    voxel_mm3 = float(np.prod(spacing))
    out: dict[str, float] = {}
    for c, name in enumerate(label_names[1:], start=1):
        k = c - 1
        out |= {f"dice_{name}": float(dice[k]), f"jaccard_{name}": float(iou[k]),
                f"hd95_mm_{name}": float(hd95[k]), f"nsd_{name}": float(nsd[k]),
                f"volume_true_mm3_{name}": float((truth == c).sum() * voxel_mm3),
                f"volume_pred_mm3_{name}": float((pred == c).sum() * voxel_mm3),
                f"empty_{name}": float(not (truth == c).any() and not (pred == c).any()),
                f"present_true_{name}": float((truth == c).any()),
                f"present_pred_{name}": float(largest_component(pred == c) >= min_voxels)}
    return out


def binary_metric(name: str, y_true: np.ndarray, y_pred: np.ndarray, beta: float,
                  average: str = "binary") -> float:
    """One of precision, recall, f1, f_beta (scikit-learn; 0 where undefined) or
    balanced_accuracy — only the one asked for, as the bootstrap calls it per resample."""
    if name == "balanced_accuracy":
        return _balanced_accuracy(y_true, y_pred)
    kw: dict[str, Any] = {"average": average, "zero_division": 0}
    if name == "f_beta":
        return float(fbeta_score(y_true, y_pred, beta=beta, **kw))
    fn = {"precision": precision_score, "recall": recall_score, "f1": f1_score}[name]
    return float(fn(y_true, y_pred, **kw))


BINARY_METRICS = ("precision", "recall", "f1", "f_beta", "balanced_accuracy")


def binary_metrics(y_true: Sequence[int], y_pred: Sequence[int], beta: float,
                   average: str = "binary") -> dict[str, float]:
    """Every metric of `BINARY_METRICS`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {m: binary_metric(m, y_true, y_pred, beta, average) for m in BINARY_METRICS}


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y_true, y_pred))


def roc_auc(y_true: Sequence[int], scores: np.ndarray) -> float:
    """ROC AUC (one-vs-rest for more than two classes); NaN when only one class is present."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    if scores.ndim == 2 and scores.shape[1] == 2:
        scores = scores[:, 1]
    if scores.ndim == 2:
        present = np.unique(y_true)
        if len(present) < scores.shape[1]:
            return float("nan")
        return float(roc_auc_score(y_true, scores, multi_class="ovr"))
    return float(roc_auc_score(y_true, scores))


def volume_errors(true_mm3: Sequence[float], pred_mm3: Sequence[float]) -> dict[str, float]:
    """Mean absolute (mm³) and relative volume error, Bland–Altman bias and limits."""
    t, p = np.asarray(true_mm3, dtype=np.float64), np.asarray(pred_mm3, dtype=np.float64)
    diff = p - t
    keep = t > 0
    sd = float(np.std(diff, ddof=1)) if len(diff) > 1 else float("nan")
    bias = float(np.mean(diff))
    return {"abs_volume_error_mm3": float(mean_absolute_error(t, p)),
            "rel_volume_error": float(np.mean(np.abs(diff[keep]) / t[keep])) if keep.any()
            else float("nan"),
            "bland_altman_bias_mm3": bias, "bland_altman_sd_mm3": sd,
            "bland_altman_loa_mm3": [bias - LOA_Z * sd, bias + LOA_Z * sd]}
