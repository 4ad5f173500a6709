"""Task-specific losses (the TSL of the MIAS loss), from MONAI and torch.

Segmentation: Dice + cross-entropy (nnU-Net's default, MONAI `DiceCELoss`), the Dice over
the whole batch (nnU-Net's batch Dice: a patch without the structure does not make it
undefined);
classification: cross-entropy, optionally class-weighted; regression (a structure's
volume, a value): smooth L1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss

from mias.records import TaskSpec

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def task_loss(task: TaskSpec, class_weights: Sequence[float] | None = None) -> Loss:
    """The loss for `task`; logits (N, C, *spatial) or (N, C) against integer targets."""
    if task.kind == "segmentation":
        dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False,
                             batch=True)

        def seg(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return dice_ce(logits, target.unsqueeze(1))

        return seg
    if task.kind == "classification":
        weight = None if class_weights is None else torch.tensor(class_weights,
                                                                  dtype=torch.float32)

        def cls(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            w = None if weight is None else weight.to(logits.device)
            return F.cross_entropy(logits, target, weight=w)

        return cls

    def reg(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(pred.reshape(-1), target.reshape(-1))

    return reg
