"""Task metrics of one trained network on the validation split (MONAI, scikit-learn).

Segmentation: Dice and Jaccard per structure (MONAI `compute_dice`) by nnU-Net's
convention: a structure absent from both prediction and truth is left out of that case's
mean and counted (`empty_cases_by_structure`), one present on one side only scores 0 — so a
network that predicts nothing scores 0 wherever the structure exists, never 1. HD95 per
structure in mm
(MONAI, with the prepared spacing; NaN where a structure is missing on either side), and,
where the task has a lesion label, case-level detection (lesion present in the truth vs at
least `min_voxels` predicted). Classification: precision, recall, F1, accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from mias.records import TaskSpec
from mias.train.scoring import empty_as_nan, one_hot


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def detection_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    p, r, f, _ = precision_recall_fscore_support(truth, pred, average="binary",
                                                 zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f),
            "accuracy": float(accuracy_score(truth, pred))}


def segmentation_metrics(logits: torch.Tensor, target: torch.Tensor, task: TaskSpec, *,
                         lesion: str | None, min_voxels: int) -> dict[str, Any]:
    classes = logits.shape[1]
    pred = logits.argmax(1)
    p1, t1 = one_hot(pred, classes), one_hot(target, classes)
    dice = empty_as_nan(compute_dice(p1, t1, include_background=False, ignore_empty=False),
                        p1, t1)
    hd = compute_hausdorff_distance(p1, t1, include_background=False, percentile=95,
                                    spacing=list(task.spacing))
    hd = torch.where(torch.isfinite(hd), hd, torch.full_like(hd, float("nan")))
    names = list(task.label_names[1:])
    jaccard = dice / (2.0 - dice)
    per_dice = {n: _mean(dice[:, i].tolist()) for i, n in enumerate(names)}
    per_jac = {n: _mean(jaccard[:, i].tolist()) for i, n in enumerate(names)}
    per_hd = {n: _mean(hd[:, i].tolist()) for i, n in enumerate(names)}
    out: dict[str, Any] = {
        "dice": _mean(list(per_dice.values())), "jaccard": _mean(list(per_jac.values())),
        "hd95_mm": _mean(list(per_hd.values())), "dice_by_structure": per_dice,
        "jaccard_by_structure": per_jac, "hd95_by_structure": per_hd,
        "empty_cases_by_structure": {n: int(torch.isnan(dice[:, i]).sum())
                                     for i, n in enumerate(names)},
    }
    if lesion is not None:
        value = task.label_names.index(lesion)
        truth = (target == value).flatten(1).any(1).numpy().astype(int)
        found = ((pred == value).flatten(1).sum(1) >= min_voxels).numpy().astype(int)
        out["detection"] = detection_scores(truth, found)
    return out


def classification_metrics(logits: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
    return {"detection": detection_scores(target.numpy(), logits.argmax(1).numpy())}


def task_metrics(logits: torch.Tensor, target: torch.Tensor, task: TaskSpec, *,
                 lesion: str | None, min_voxels: int) -> dict[str, Any]:
    if task.kind == "segmentation":
        return segmentation_metrics(logits, target, task, lesion=lesion, min_voxels=min_voxels)
    return classification_metrics(logits, target)
