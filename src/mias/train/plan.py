"""Training patch and batch planned from the data fingerprint, as nnU-Net plans them.

The whole prepared input is the patch when a training step on it fits the memory budget:
then training sees exactly what is scored, and no sampling prior can drift. Otherwise the
patch is the input scaled down evenly until it fits, and the sampler oversamples the
foreground (a third, nnU-Net) with pad-aware uniform sampling of the rest. The batch is
the preset's, lowered to fit memory and, as nnU-Net does, to cover at most 5 % of the
training voxels per step (never below 2 when memory allows). A preset's explicit `patch`
or `patch_voxels` wins, and the plan says so.

Memory is measured, not modelled: one forward pass of a small probe records the bytes
autograd keeps for the backward pass, which grow linearly with the voxels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mias.presets.models import TrainSettings
from mias.train.data import PreparedData, fit_patch, total_stride

MIB = 2**20
DATASET_SHARE = 0.05
NNUNET_MIN_BATCH = 2
PROBE_VOXELS = 16**3


@dataclass(frozen=True)
class TrainPlan:
    """What training draws per step, and why."""

    patch: tuple[int, ...]
    batch: int
    reason: str
    whole_input: bool
    memory_budget_mib: float | None
    memory_per_sample_mib: float | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["patch"] = list(self.patch)
        return d


def memory_budget_mib(settings: TrainSettings, device: torch.device) -> tuple[float, str]:
    """The budget in MiB and where it comes from (settings, or the device's memory)."""
    if settings.memory_mib is not None:
        return settings.memory_mib, "train.memory_mib"
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory / MIB
        source = f"{settings.memory_share:.0%} of the GPU's memory"
    else:
        from mias.hardware.devices import create_device

        total = float(create_device("host").ram_mib.value or 0.0)
        source = f"{settings.memory_share:.0%} of the host's RAM (DeviceProfile 'host')"
    return settings.memory_share * total, source


def saved_bytes_per_voxel(net: nn.Module, data: PreparedData, divisor: tuple[int, ...]) -> float:
    """Bytes autograd keeps per input voxel of one sample, measured on a small probe."""
    shape = fit_patch(None, data.task.input_shape, divisor, PROBE_VOXELS)
    probe = torch.zeros(1, data.task.in_channels, *shape)
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    ref = next(net.parameters(), None)
    device = ref.device if ref is not None else torch.device("cpu")
    buffers = {k: b.detach().clone() for k, b in net.named_buffers()}
    was = net.training
    net.train()
    with torch.random.fork_rng(devices=[]), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(probe.to(device))
    del out
    net.train(was)
    with torch.no_grad():  # a training-mode pass moves batch-norm statistics: undo it
        for k, b in net.named_buffers():
            b.copy_(buffers[k])
    return saved / math.prod(shape)


def plan_training(net: nn.Module, data: PreparedData, settings: TrainSettings,
                  device: torch.device) -> TrainPlan:
    """The patch and batch of this training (see the module docstring)."""
    shape = tuple(int(s) for s in data.task.input_shape)
    if data.task.kind != "segmentation":
        return TrainPlan(shape, settings.batch, "a global label needs the whole input", True,
                         None, None)
    divisor = total_stride(data.space)
    budget, source = memory_budget_mib(settings, device)
    per_voxel = saved_bytes_per_voxel(net, data, divisor)
    weights = 4 * sum(p.numel() * p.element_size() for p in net.parameters()) / MIB
    per_sample = per_voxel * math.prod(shape) / MIB
    if settings.patch is not None or settings.patch_voxels is not None:
        patch = fit_patch(settings.patch, shape, divisor, settings.patch_voxels)
        reason = "the preset sets " + ("patch" if settings.patch else "patch_voxels")
    else:
        fit_voxels = (budget - weights) / max(per_voxel / MIB, 1e-12)
        want = min(NNUNET_MIN_BATCH, settings.batch)
        if fit_voxels >= want * math.prod(shape):
            patch, reason = shape, f"the whole input fits the memory budget ({source})"
        else:
            patch = fit_patch(None, shape, divisor, int(fit_voxels / want))
            reason = f"the whole input exceeds the memory budget ({source}); patch scaled down"
    voxels = math.prod(patch)
    sample_mib = per_voxel * voxels / MIB
    by_memory = max(1, int((budget - weights) // max(sample_mib, 1e-9)))
    train_voxels = sum(math.prod(c.image.shape[1:]) for c in data.split("train"))
    by_share = max(NNUNET_MIN_BATCH, int(np.floor(DATASET_SHARE * train_voxels / voxels)))
    batch = max(1, min(settings.batch, by_memory, by_share))
    if batch < settings.batch:
        reason += f"; batch {settings.batch} → {batch} (" + (
            "memory" if by_memory < by_share else "at most 5% of the training voxels") + ")"
    return TrainPlan(tuple(int(p) for p in patch), batch, reason, tuple(patch) == shape,
                     round(budget, 1), round(per_sample, 2))
