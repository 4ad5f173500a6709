"""The classification decision threshold, chosen on validation for the preset's F-β.

A classifier trained on imbalanced cases can rank them perfectly (ROC AUC 1.0) and still
call every case negative at the arg-max (probability 0.5), F1 0. The decision is a
threshold on the positive-class probability, the one that maximises F-β on the validation
split (the middle of the best interval, so it sits as far from both classes as the cases
allow). It travels in `model.pt` and the ONNX metadata, and `evaluate` and `predict`
apply it. Numpy only: `mias predict` applies it on a board without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.records import TaskSpec

THRESHOLD_SCHEMA_VERSION = 1
ARGMAX = 0.5


def f_beta(y_true: np.ndarray, y_pred: np.ndarray, beta: float) -> float:
    """Binary F-β of the positive class (0 where undefined, as scikit-learn's zero_division=0)."""
    tp = float(np.sum((y_pred == 1) & (y_true == 1)))
    fp = float(np.sum((y_pred == 1) & (y_true == 0)))
    fn = float(np.sum((y_pred == 0) & (y_true == 1)))
    b2 = beta * beta
    denom = (1 + b2) * tp + b2 * fn + fp
    return 0.0 if denom == 0 else (1 + b2) * tp / denom


def choose_threshold(y_true: Sequence[int], p_positive: Sequence[float],
                     beta: float) -> dict[str, Any]:
    """The F-β-best threshold on the positive-class probability (binary tasks)."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(p_positive, dtype=np.float64)
    if y.size == 0 or y.shape != p.shape:
        raise InputError(None, f"a threshold needs one probability per validation case "
                               f"({p.size} probabilities, {y.size} labels)",
                         "re-run `mias train RUN` with a non-empty validation split")
    threshold = _best_threshold(y, p, beta)
    return {"schema_version": THRESHOLD_SCHEMA_VERSION, "positive_class": 1,
            "threshold": float(threshold), "metric": f"F-{beta:g}", "beta": float(beta),
            "split": "val", "cases": int(y.size),
            "val_score": f_beta(y, (p >= threshold).astype(int), beta),
            "val_score_argmax": f_beta(y, (p >= ARGMAX).astype(int), beta)}


def _best_threshold(y: np.ndarray, p: np.ndarray, beta: float) -> float:
    """Cut k calls positive the values[k:]; every threshold in (values[k-1], values[k]]
    does the same. Of the widest interval of F-β-best thresholds, 0.5 (the arg-max) where
    it lies inside, else its middle."""
    values = np.unique(p)
    n = len(values)
    scores = np.array([f_beta(y, (p >= values[k]).astype(int) if k < n else
                              np.zeros_like(y), beta) for k in range(n + 1)])
    best = scores >= scores.max() - 1e-12
    lower = np.concatenate([[0.0], values])
    upper = np.concatenate([values, [1.0]])
    runs: list[tuple[float, float]] = []
    k = 0
    while k <= n:
        if not best[k]:
            k += 1
            continue
        start = k
        while k + 1 <= n and best[k + 1]:
            k += 1
        runs.append((float(lower[start]), float(upper[k])))
        k += 1
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return ARGMAX if lo < ARGMAX <= hi else (lo + hi) / 2


def apply_threshold(probabilities: np.ndarray, decision: dict[str, Any] | None) -> np.ndarray:
    """Class per row of (N, K) probabilities: the threshold for two classes, else arg-max."""
    probs = np.asarray(probabilities)
    if not decision or probs.shape[-1] != 2:
        return np.argmax(probs, axis=-1)
    return (probs[..., int(decision["positive_class"])] >= float(decision["threshold"])
            ).astype(np.int64)


def balanced_class_weights(targets: Sequence[int], classes: int) -> list[float]:
    """Inverse-frequency class weights (scikit-learn's "balanced"), normalised to mean 1
    over the classes present; an absent class gets 1 (it contributes no loss anyway)."""
    counts = np.bincount(np.asarray(targets, dtype=int), minlength=classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    weights[present] /= weights[present].mean()
    return [float(w) for w in weights]


def loss_class_weights(task: TaskSpec, targets: Sequence[int | None]) -> list[float] | None:
    """Class weights for the training loss: balanced for classification (a rare finding
    weighs as much as the common "no finding"), none for other tasks."""
    if task.kind != "classification":
        return None
    return balanced_class_weights([int(t) for t in targets if t is not None], task.num_classes)
