"""The task metric as a score (higher is better) on a batch: what drives the search.

The search ranks sub-networks, prunes candidates and picks the winner by the task's
`target_metric` (paper: "chosen for the clinical purpose"), computed by MONAI and
scikit-learn on validation batches in the prepared space. Clinical figures in the original
image space, with confidence intervals, are `mias evaluate`'s job, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from monai.losses import DiceLoss
from monai.metrics import compute_dice
from sklearn.metrics import fbeta_score

from mias.errors import InputError
from mias.records import TASK_METRICS, TaskSpec

METRICS = TASK_METRICS


@dataclass(frozen=True)
class Scorer:
    """`scorer(logits, target)` → the batch score; `sign` turns errors into scores."""

    task: TaskSpec
    metric: str
    beta: float
    soft: bool = False

    @classmethod
    def for_task(cls, task: TaskSpec, metric: str | None = None,
                 beta: float | None = None, soft: bool = False) -> Scorer:
        name = metric or task.target_metric
        if name not in METRICS[task.kind]:
            raise InputError(None, f"metric {name!r} does not apply to a {task.kind} task",
                             f"choose one of: {', '.join(METRICS[task.kind])}")
        return cls(task, name, task.beta if beta is None else float(beta), soft)

    @property
    def label(self) -> str:
        if self.metric == "f_beta":
            return f"F-{self.beta:g}"
        if self.soft and self.metric == "dice":
            return "soft Dice"
        return {"dice": "Dice", "mae": "−MAE", "volume_error": "−relative volume error"}[
            self.metric]

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> float:
        logits, target = logits.detach().float().cpu(), target.detach().cpu()
        if self.task.kind == "regression":
            return -float(torch.mean(torch.abs(logits.reshape(-1) - target.reshape(-1))))
        if self.task.kind == "classification":
            pred = logits.argmax(1).numpy()
            return float(fbeta_score(target.numpy(), pred, beta=self.beta,
                                     average="binary" if logits.shape[1] == 2 else "macro",
                                     zero_division=0))
        if self.soft and self.metric == "dice":
            return soft_dice(logits, target)
        pred = logits.argmax(1)
        if self.metric == "dice":
            return dice(pred, target, logits.shape[1])
        if self.metric == "volume_error":
            return -_volume_error(pred, target, logits.shape[1])
        present_true = (target > 0).flatten(1).any(1).numpy()
        present_pred = (pred > 0).flatten(1).any(1).numpy()
        return float(fbeta_score(present_true, present_pred, beta=self.beta, zero_division=0))


def one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, *spatial) integer labels → (N, C, *spatial) float one-hot."""
    out = torch.nn.functional.one_hot(labels.long(), classes)
    return out.movedim(-1, 1).float()


def empty_as_nan(values: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """nnU-Net's convention on MONAI's per-(case, foreground class) overlap scores: NaN where
    the class is absent from both the one-hot prediction and label (undefined, not 1)."""
    dims = tuple(range(2, pred.ndim))
    both_empty = (pred[:, 1:].sum(dims) == 0) & (truth[:, 1:].sum(dims) == 0)
    return torch.where(both_empty, torch.full_like(values, float("nan")), values)


def dice(pred: torch.Tensor, target: torch.Tensor, classes: int) -> float:
    """Mean foreground Dice (MONAI) by nnU-Net's convention: a structure absent from both
    prediction and label is left out of the mean, one present in only one of them scores 0.
    A batch with no structure anywhere and none predicted scores 1 (nothing to find, and
    nothing falsely found)."""
    p, t = one_hot(pred, classes), one_hot(target, classes)
    values = empty_as_nan(compute_dice(p, t, include_background=False, ignore_empty=False),
                          p, t)
    return float(torch.nanmean(values)) if torch.isfinite(values).any() else 1.0


def soft_dice(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Mean foreground Dice of the softmax probabilities over the batch pooled as one
    volume (1 − MONAI's batch Dice loss).

    The search ranks sub-networks long before their hard masks find a small structure:
    early on every path's hard Dice is 0 while their probabilities already differ. Pooled,
    a patch without the structure adds its false positives to the denominator, as the same
    voxels would in a whole volume, instead of scoring a near-0 case of its own.
    """
    loss = DiceLoss(include_background=False, to_onehot_y=True, softmax=True, batch=True,
                    reduction="none")(logits, target.unsqueeze(1))
    return float(1.0 - loss.mean())


def _volume_error(pred: torch.Tensor, target: torch.Tensor, classes: int) -> float:
    errors = []
    for c in range(1, classes):
        true = (target == c).flatten(1).sum(1).float()
        est = (pred == c).flatten(1).sum(1).float()
        keep = true > 0
        if keep.any():
            errors.append((torch.abs(est - true)[keep] / true[keep]).numpy())
    return float(np.mean(np.concatenate(errors))) if errors else 0.0
