"""Torch modules from plans: operators (`create_op`), blocks (`build_block`), 2D and 3D alike.

Layers come from MONAI's dims-generic factories (`Conv[Conv.CONV, dims]`, `Norm[...]`,
`Pool[...]`, `ChannelSELayer`). Every composite module takes an optional channel selection
`sel` (see `mias.space.elastic`): standalone networks never pass one; the supernet passes
one so a candidate built for its widest input runs on narrower ones.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import ChannelSELayer
from monai.networks.layers.factories import Act, Conv, Norm, Pool
from torch import nn

from mias.space import elastic
from mias.space.configs import BlockConfig
from mias.space.elastic import Sel
from mias.space.plans import (
    ActSpec,
    ConvSpec,
    LinearSpec,
    Node,
    NormSpec,
    OpArgs,
    PoolSpec,
    Residual,
    Seq,
    SESpec,
    block_plan,
    op_plan,
)

_EXAMPLE_SEED = 0


def create_norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    """Batch or instance norm, both affine (instance norm keeps no running statistics, so it
    behaves the same in training and inference, and exports as InstanceNormalization)."""
    if kind == "batch":
        return Norm[Norm.BATCH, spatial_dims](channels)
    if kind == "instance":
        return Norm[Norm.INSTANCE, spatial_dims](channels, affine=True)
    raise KeyError(f"unknown norm {kind!r}")


def create_act(kind: str) -> nn.Module:
    if kind == "relu":
        return Act[Act.RELU]()
    if kind == "leakyrelu":
        return Act[Act.LEAKYRELU](negative_slope=0.01)
    if kind == "hardswish":
        return nn.Hardswish()
    raise KeyError(f"unknown activation {kind!r}")


class PlanSeq(nn.Sequential):
    """A chain; a selection passes through channel-wise layers and stops at the first
    layer that mixes channels (which consumes it)."""

    def forward(self, x: torch.Tensor, sel: Sel | None = None) -> torch.Tensor:
        for module in self:
            if isinstance(module, PlanSeq | PlanResidual):
                x = module(x, sel)
                sel = None
            elif sel is None:
                x = module(x)
            else:
                x = elastic.apply(module, x, sel)
                if not elastic.channelwise(module):
                    sel = None
        return x


class PlanResidual(nn.Module):
    """`body(x) + shortcut(x)` (see `plans.Residual`)."""

    def __init__(self, node: Residual, spatial_dims: int) -> None:
        super().__init__()
        self.body = build_plan(node.body, spatial_dims)
        self.projection = None if node.projection is None else build_plan(node.projection,
                                                                          spatial_dims)
        self.out_channels = node.out_channels
        self.elastic_identity = node.elastic_identity

    def forward(self, x: torch.Tensor, sel: Sel | None = None) -> torch.Tensor:
        out = self.body(x, sel)
        identity = self.projection is None or (
            self.elastic_identity and x.shape[1] == self.out_channels)
        return out + (x if identity else self.projection(x, sel))


def build_plan(node: Node, spatial_dims: int) -> nn.Module:
    """The module for a plan node (`PoolSpec` only inside a `Seq`)."""
    if isinstance(node, ConvSpec):
        return Conv[Conv.CONV, spatial_dims](
            node.in_channels, node.out_channels, node.kernel, stride=node.stride,
            padding=node.padding, dilation=node.dilation, groups=node.groups, bias=node.bias)
    if isinstance(node, NormSpec):
        return create_norm(node.kind, spatial_dims, node.channels)
    if isinstance(node, ActSpec):
        return create_act(node.kind)
    if isinstance(node, SESpec):
        return ChannelSELayer(spatial_dims, node.channels, r=node.reduction)
    if isinstance(node, LinearSpec):
        return nn.Linear(node.in_features, node.out_features)
    if isinstance(node, Seq):
        return PlanSeq(*(m for item in node.items for m in _modules(item, spatial_dims)))
    if isinstance(node, Residual):
        return PlanResidual(node, spatial_dims)
    raise TypeError(f"unknown plan node {type(node).__name__}")


def _modules(node: Node, spatial_dims: int) -> list[nn.Module]:
    """A chain item's modules; global pooling is two channel-wise layers (pool, flatten), so
    a selection passes through it to the head's linear layer."""
    if isinstance(node, PoolSpec):
        return [Pool[Pool.ADAPTIVEAVG, spatial_dims](1), nn.Flatten(1)]
    return [build_plan(node, spatial_dims)]


def create_op(name: str, *, spatial_dims: int, in_channels: int, out_channels: int,
              kernel: int | tuple[int, ...] = 3, stride: int | tuple[int, ...] = 1,
              expansion: int = 1, norm: str = "instance", act: str = "relu") -> nn.Module:
    """Operator `name` of the dictionary as a module (`forward(x)`)."""
    args = OpArgs(in_channels, out_channels, _axes(kernel, spatial_dims),
                  _axes(stride, spatial_dims), expansion, norm, act)
    return build_plan(op_plan(name, args), spatial_dims)


def _axes(value: int | tuple[int, ...], spatial_dims: int) -> tuple[int, ...]:
    return (value,) * spatial_dims if isinstance(value, int) else tuple(value)


class Block(nn.Module):
    """A stem, encoder block or head: `forward(x)` (plus `sel` inside the supernet)."""

    def __init__(self, config: BlockConfig, *, elastic: bool = False) -> None:
        super().__init__()
        self.body = build_plan(block_plan(config, elastic=elastic), config.spatial_dims)

    def forward(self, x: torch.Tensor, sel: Sel | None = None) -> torch.Tensor:
        return self.body(x, sel)


class DecoderBlock(nn.Module):
    """Up-sample the main input (nearest, per-axis factors), concatenate the skip, run the
    block: `forward(x, skip)`."""

    def __init__(self, config: BlockConfig, *, elastic: bool = False) -> None:
        super().__init__()
        self.scale = tuple(float(u) for u in config.upsample)
        self.body = build_plan(block_plan(config, elastic=elastic), config.spatial_dims)

    def forward(self, x: torch.Tensor, skip: torch.Tensor,
                sel: Sel | None = None) -> torch.Tensor:
        if any(s != 1.0 for s in self.scale):
            x = nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return self.body(torch.cat([x, skip], dim=1), sel)


def build_block(config: BlockConfig, *, elastic: bool = False) -> nn.Module:
    """A standalone module for `config`: `forward(x)`, or `forward(x, skip)` for "dec".
    `elastic=True` builds the supernet's version, which also accepts a channel selection."""
    cls = DecoderBlock if config.role == "dec" else Block
    return cls(config, elastic=elastic)


def block_example_inputs(config: BlockConfig, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Deterministic example inputs of the right shapes (for export and timing)."""
    gen = torch.Generator().manual_seed(_EXAMPLE_SEED)
    x = torch.randn(batch, config.in_channels, *config.in_shape, generator=gen)
    if config.role != "dec":
        return (x,)
    return x, torch.randn(batch, config.skip_channels, *config.skip_shape, generator=gen)
