"""Postprocessing decided on validation, as nnU-Net decides it: keep the largest component.

A network often paints small false islands away from the structure; removing every
connected component but the largest lifts Dice there and lowers it where the structure is
truly split. So nothing is assumed: the rule is tried on the validation predictions, first
for the foreground as one union, then per class on top of that, and kept only where it
raises the validation Dice. The decision is a small JSON record carried by `model.pt`, the
ONNX metadata and every prediction. Numpy and SciPy only: `mias predict` applies it on a
board without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from mias.errors import InputError

POSTPROCESSING_SCHEMA_VERSION = 1
METHOD = "keep the largest connected component (full connectivity)"
MIN_GAIN = 1e-6  # a change below float noise is no improvement


def keep_largest(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of a boolean mask (full connectivity)."""
    labels, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _keep_largest_union(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[(labels > 0) & ~keep_largest(labels > 0)] = 0
    return out


def _keep_largest_class(labels: np.ndarray, c: int) -> np.ndarray:
    out = labels.copy()
    out[(labels == c) & ~keep_largest(labels == c)] = 0
    return out


def apply_postprocessing(labels: np.ndarray, decision: dict[str, Any] | None) -> np.ndarray:
    """A label map with the recorded decision applied (unchanged without one)."""
    if not decision:
        return labels
    out = _keep_largest_union(labels) if decision.get("foreground") else labels
    for c in decision.get("classes", ()):
        out = _keep_largest_class(out, int(c))
    return out


def class_dice(pred: np.ndarray, truth: np.ndarray, c: int) -> float:
    """Dice of class `c`; NaN where it is absent from both (nnU-Net's convention: undefined,
    left out of the mean)."""
    p, t = pred == c, truth == c
    total = int(p.sum()) + int(t.sum())
    return float("nan") if total == 0 else 2.0 * float(np.logical_and(p, t).sum()) / total


def _mean_dice(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
               classes: Sequence[int]) -> np.ndarray:
    """Per class, the Dice averaged over the cases where it is defined (0 where it never
    is, so that no rule can gain there)."""
    out = []
    for c in classes:
        values = np.array([class_dice(p, t, c) for p, t in zip(preds, truths, strict=True)])
        out.append(float(np.nanmean(values)) if np.isfinite(values).any() else 0.0)
    return np.array(out)


def decide_postprocessing(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                          num_classes: int) -> dict[str, Any]:
    """The rule that maximises validation Dice: foreground union first, then each class.

    `preds` and `truths` are integer label maps of the validation cases (same shapes).
    """
    if not preds or len(preds) != len(truths):
        raise InputError(None, "postprocessing needs the validation predictions and labels "
                               f"({len(preds)} predictions, {len(truths)} labels)",
                         "re-run `mias train RUN` with a non-empty validation split")
    classes = list(range(1, num_classes))
    before = _mean_dice(preds, truths, classes)
    current, dice = list(preds), before
    union = [_keep_largest_union(p) for p in current]
    union_dice = _mean_dice(union, truths, classes)
    foreground = bool(union_dice.mean() - dice.mean() > MIN_GAIN)
    if foreground:
        current, dice = union, union_dice
    kept: list[int] = []
    gains: dict[str, float] = {}
    for k, c in enumerate(classes):
        trial = [_keep_largest_class(p, c) for p in current]
        trial_dice = _mean_dice(trial, truths, [c])[0]
        gains[str(c)] = float(trial_dice - dice[k])
        if trial_dice - dice[k] > MIN_GAIN:
            kept.append(c)
            current, dice = trial, dice.copy()
            dice[k] = trial_dice
    return {"schema_version": POSTPROCESSING_SCHEMA_VERSION, "method": METHOD,
            "foreground": foreground, "classes": kept, "split": "val", "cases": len(preds),
            "metric": "Dice", "val_dice_before": float(before.mean()),
            "val_dice_after": float(dice.mean()),
            "foreground_gain": float(union_dice.mean() - before.mean()),
            "class_gains": gains}
