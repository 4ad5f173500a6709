"""A fixed MONAI U-Net: the hand-designed network the search has to beat.

Its stages follow the same preprocessing plan as the search space (per-axis strides of
`space.stages`, as nnU-Net plans them, so anisotropic axes are not over-downsampled) and it
trains with exactly the final-training budget of the found network.
"""

from __future__ import annotations

from monai.networks.nets import UNet
from torch import nn

from mias.presets.models import EvaluateSettings
from mias.space import SearchSpace


def fixed_unet(space: SearchSpace, settings: EvaluateSettings) -> nn.Module:
    depth = min(len(settings.unet_channels), len(space.stages))
    strides = [tuple(stage.stride) for stage in space.stages[1:depth]]
    return UNet(spatial_dims=space.spatial_dims, in_channels=space.task.in_channels,
                out_channels=space.out_channels, channels=settings.unet_channels[:depth],
                strides=strides, num_res_units=1)
