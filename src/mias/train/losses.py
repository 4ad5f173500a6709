"""Task-specific losses (the TSL of the MIAS loss), from MONAI and torch, deep supervision.

Segmentation: Dice + cross-entropy (nnU-Net's default, MONAI `DiceCELoss`), the Dice over
the whole batch (nnU-Net's batch Dice: a patch without the structure does not make it
undefined);
classification: cross-entropy, optionally class-weighted; regression (a structure's
volume, a value): smooth L1.

Deep supervision (nnU-Net): a segmentation loss also accepts several outputs — a tensor
(B, H, C, *S) of H heads at full resolution (MONAI `DynUNet` in training mode, head 0 the
main one), or a list [main, aux1, aux2, …] at decreasing resolution, whose targets are
down-sampled by nearest neighbour. Head i weighs 1/2^i, the lowest-resolution head 0, and
the weights are normalised to sum to 1; a zero-weighted head is not even scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss

from mias.records import TaskSpec

Outputs = torch.Tensor | Sequence[torch.Tensor]
Loss = Callable[[Outputs, torch.Tensor], torch.Tensor]


def deep_supervision_weights(heads: int) -> list[float]:
    """nnU-Net's weights: 1/2^i per head, the last (lowest resolution) 0, normalised."""
    raw = [1.0 / 2**i for i in range(heads)]
    if heads > 1:
        raw[-1] = 0.0
    total = sum(raw)
    return [w / total for w in raw]


def split_heads(outputs: Outputs, target: torch.Tensor) -> list[torch.Tensor]:
    """The network's outputs as a list of heads, main first, whatever the layout."""
    if isinstance(outputs, list | tuple):
        return list(outputs)
    if outputs.ndim == target.ndim + 2:
        return list(outputs.unbind(1))
    return [outputs]


def main_output(outputs: Outputs, target_ndim: int | None = None) -> torch.Tensor:
    """The main head (full resolution) of any output layout.

    `target_ndim` tells a stacked (B, H, C, *S) tensor from plain logits; without it a
    tensor is taken as plain logits.
    """
    if isinstance(outputs, list | tuple):
        return outputs[0]
    if target_ndim is not None and outputs.ndim == target_ndim + 2:
        return outputs[:, 0]
    return outputs


def _resized(target: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if tuple(target.shape[1:]) == tuple(shape):
        return target
    small = F.interpolate(target.unsqueeze(1).float(), size=tuple(shape), mode="nearest")
    return small.squeeze(1).to(target.dtype)


def deep_supervised(base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Loss:
    """`base` summed over the heads of any output layout with nnU-Net's weights."""

    def loss(outputs: Outputs, target: torch.Tensor) -> torch.Tensor:
        heads = split_heads(outputs, target)
        if len(heads) == 1:
            return base(heads[0], target)
        weights = deep_supervision_weights(len(heads))
        terms = [w * base(h, _resized(target, h.shape[2:]))
                 for w, h in zip(weights, heads, strict=True) if w > 0]
        return torch.stack(terms).sum()

    return loss


def task_loss(task: TaskSpec, class_weights: Sequence[float] | None = None) -> Loss:
    """The loss for `task`; logits (N, C, *spatial) or (N, C) against integer targets
    (segmentation also takes the deep-supervision layouts of the module docstring)."""
    if task.kind == "segmentation":
        dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False,
                             batch=True)

        def seg(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return dice_ce(logits, target.unsqueeze(1))

        return deep_supervised(seg)
    if task.kind == "classification":
        weight = None if class_weights is None else torch.tensor(class_weights,
                                                                  dtype=torch.float32)

        def cls(logits: Outputs, target: torch.Tensor) -> torch.Tensor:
            w = None if weight is None else weight.to(target.device)
            return F.cross_entropy(main_output(logits), target, weight=w)

        return cls

    def reg(pred: Outputs, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(main_output(pred).reshape(-1), target.reshape(-1))

    return reg


def distillation_loss(task: TaskSpec) -> Callable[[Outputs, torch.Tensor], torch.Tensor]:
    """In-place distillation (the sandwich rule's): how far a student's main output is from
    the teacher's (detached) main output — the KL divergence from the teacher's class
    probabilities, per voxel or per image, for segmentation and classification, the squared
    error for regression."""
    if task.kind in ("segmentation", "classification"):
        def kl(student: Outputs, teacher: torch.Tensor) -> torch.Tensor:
            s = F.log_softmax(main_output(student), dim=1)
            t = F.log_softmax(teacher, dim=1)
            return (t.exp() * (t - s)).sum(dim=1).mean()

        return kl

    def mse(student: Outputs, teacher: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(main_output(student).reshape(-1), teacher.reshape(-1))

    return mse
