"""The fixed U-Net baseline: MONAI `DynUNet` with nnU-Net's topology, from the same plan.

nnU-Net's network is the hand-designed reference a search has to beat, so the baseline
follows its rules rather than a width we picked: a full-resolution first stage, then the
per-axis strides of the preprocessing plan (`space.stages`: an anisotropic axis is not
down-sampled until its spacing catches up), kernels of 1 on an axis still coarser than the
finest (nnU-Net's [1,3,3] on thick slices), 32 base features doubling per stage up to 320,
and deep supervision on every decoder output above the lowest one. The features shrink,
halving every stage together, until one inference fits the target device's RAM (the
`DeviceProfile`), so the baseline is a network the device can run. It trains with exactly
the found network's recipe and budget (`train_network`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from monai.networks.nets import DynUNet

from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.memory import MIB
from mias.hardware.roofline import FLOAT32_BYTES
from mias.space import SearchSpace
from mias.space.geometry import coarse_axes

ARCHITECTURE = "MONAI DynUNet (nnU-Net topology)"
BASE_FEATURES = 32
MAX_FEATURES = 320
LIVE_MAPS_PER_STAGE = 3   # a stage's input, output and decoder concatenation


@dataclass(frozen=True)
class DynUNetPlan:
    """What `fixed_unet` builds, and why its features are what they are."""

    kernels: tuple[tuple[int, ...], ...]
    strides: tuple[tuple[int, ...], ...]
    filters: tuple[int, ...]
    deep_supervision: bool
    deep_supr_num: int
    memory_mib: float
    ram_mib: float | None
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": ARCHITECTURE, "kernels": [list(k) for k in self.kernels],
                "strides": [list(s) for s in self.strides], "filters": list(self.filters),
                "deep_supervision": self.deep_supervision, "deep_supr_num": self.deep_supr_num,
                "memory_mib": round(self.memory_mib, 2), "ram_mib": self.ram_mib,
                "device": self.device}


def nnunet_filters(stages: int, base: int) -> tuple[int, ...]:
    """`base` doubling per stage, capped at nnU-Net's 320."""
    return tuple(min(base * 2**k, MAX_FEATURES) for k in range(stages))


def memory_mib(space: SearchSpace, filters: tuple[int, ...],
               kernels: tuple[tuple[int, ...], ...]) -> float:
    """Peak fp32 memory of one inference: the weights (two convolutions per encoder stage,
    as many in the decoder), the skip maps held for the decoder and the working maps of the
    largest stage — an estimate, as `mias.hardware.memory` makes for searched networks."""
    voxels = [int(math.prod(stage.shape)) for stage in space.stages[:len(filters)]]
    skips = sum(f * v for f, v in zip(filters, voxels, strict=True))
    working = max(LIVE_MAPS_PER_STAGE * f * v for f, v in zip(filters, voxels, strict=True))
    params = 0
    c_in = space.task.in_channels
    for f, k in zip(filters, kernels, strict=True):
        params += (c_in + f) * f * int(math.prod(k))
        c_in = f
    params *= 2   # the decoder mirrors the encoder
    return (skips + working + params) * FLOAT32_BYTES / MIB


def plan_dynunet(space: SearchSpace, device: DeviceProfile, *,
                 deep_supervision: bool = True) -> DynUNetPlan:
    """nnU-Net's topology on the plan's stages, features halved until it fits the device;
    deep supervision where the recipe asks for it and there are ≥ 2 down-samplings."""
    stages = space.stages
    if len(stages) < 2:
        raise InputError(None, "the preprocessing plan has no down-sampling stage, so a U-Net "
                         "baseline cannot be built", "prepare a larger --input-shape")
    kernels = tuple(tuple(1 if a in coarse_axes(stage) else 3 for a in range(len(stage.shape)))
                    for stage in stages)
    strides = tuple(tuple(stage.stride) for stage in stages)
    ram = device.ram_mib.value
    base = BASE_FEATURES
    filters = nnunet_filters(len(stages), base)
    mem = memory_mib(space, filters, kernels)
    while ram and mem > ram and base > 1:
        base //= 2
        filters = nnunet_filters(len(stages), base)
        mem = memory_mib(space, filters, kernels)
    if ram and mem > ram:
        raise InputError(None, f"even a 1-feature U-Net needs {mem:.0f} MiB, more than the "
                         f"{ram:.0f} MiB of {device.name}", "prepare a smaller --input-shape")
    downsamplings = len(stages) - 1
    deep = deep_supervision and downsamplings >= 2
    return DynUNetPlan(kernels=kernels, strides=strides, filters=filters,
                       deep_supervision=deep, deep_supr_num=downsamplings - 1 if deep else 1,
                       memory_mib=mem, ram_mib=ram, device=device.name)


def fixed_unet(space: SearchSpace, device: DeviceProfile, *, seed: int = 0,
               deep_supervision: bool = True) -> tuple[DynUNet, DynUNetPlan]:
    """The baseline network, seeded (in training mode it returns (B, 1 + heads, C, *S) when
    deeply supervised; in eval mode the full-resolution logits only) and its plan."""
    plan = plan_dynunet(space, device, deep_supervision=deep_supervision)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DynUNet(spatial_dims=space.spatial_dims, in_channels=space.task.in_channels,
                      out_channels=space.out_channels,
                      kernel_size=[list(k) for k in plan.kernels],
                      strides=[list(s) for s in plan.strides],
                      upsample_kernel_size=[list(s) for s in plan.strides[1:]],
                      filters=list(plan.filters), deep_supervision=plan.deep_supervision,
                      deep_supr_num=plan.deep_supr_num, res_block=False)
    return net, plan
