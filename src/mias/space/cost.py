"""Analytic FLOPs, parameters and activation memory of blocks and networks (torch-free).

Counting convention, chosen to match `torch.utils.flop_counter.FlopCounterMode`: FLOPs are
2 × multiply-accumulates of convolutions and linear layers (squeeze-excitation's included);
biases, normalisation, activations, pooling, up-sampling, concatenation and element-wise
adds/multiplies count zero, as the counter ignores them. Parameters count every trainable
tensor (norm affine weights included; running statistics are buffers, not parameters).

Activation memory is an estimate for inference at fp32: the peak, over the operations in
execution order, of the tensors alive at once — each operation's input and output, the
block input kept for a residual add, and the encoder outputs kept for the decoder's skips.
Weights and runtime overhead are not included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from mias.space.configs import BlockConfig
from mias.space.plans import (
    ActSpec,
    ConvSpec,
    LinearSpec,
    Node,
    NormSpec,
    PoolSpec,
    Residual,
    Seq,
    SESpec,
    block_plan,
)

if TYPE_CHECKING:
    from mias.space.architecture import Architecture
    from mias.space.search_space import SearchSpace

FP32_BYTES = 4


@dataclass(frozen=True)
class Cost:
    """Cost of one block at batch 1: FLOPs, parameters, peak live activation elements."""

    flops: int
    params: int
    peak_elements: int


@dataclass(frozen=True)
class _Tensor:
    channels: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return self.channels * math.prod(self.shape)


def _conv_shape(spec: ConvSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, d, p in
                 zip(shape, spec.kernel, spec.stride, spec.dilation, spec.padding, strict=True))


def _walk(node: Node, x: _Tensor) -> tuple[_Tensor, Cost]:
    """Output tensor and cost of running `node` on `x`."""
    if isinstance(node, ConvSpec):
        out = _Tensor(node.out_channels, _conv_shape(node, x.shape))
        weights = node.out_channels * (node.in_channels // node.groups) * math.prod(node.kernel)
        params = weights + (node.out_channels if node.bias else 0)
        return out, Cost(2 * weights * math.prod(out.shape), params, x.numel + out.numel)
    if isinstance(node, NormSpec):
        return x, Cost(0, 2 * node.channels, 2 * x.numel)
    if isinstance(node, ActSpec):
        return x, Cost(0, 0, 2 * x.numel)
    if isinstance(node, SESpec):
        hidden = node.channels // node.reduction
        macs = 2 * node.channels * hidden
        return x, Cost(2 * macs, macs + hidden + node.channels, 2 * x.numel + node.channels)
    if isinstance(node, PoolSpec):
        return _Tensor(x.channels, ()), Cost(0, 0, x.numel + x.channels)
    if isinstance(node, LinearSpec):
        macs = node.in_features * node.out_features
        out = _Tensor(node.out_features, ())
        return out, Cost(2 * macs, macs + node.out_features, x.numel + out.numel)
    if isinstance(node, Seq):
        return _walk_seq(node, x)
    if isinstance(node, Residual):
        return _walk_residual(node, x)
    raise TypeError(f"unknown plan node {type(node).__name__}")


def _walk_seq(node: Seq, x: _Tensor) -> tuple[_Tensor, Cost]:
    flops = params = peak = 0
    for item in node.items:
        x, cost = _walk(item, x)
        flops, params, peak = flops + cost.flops, params + cost.params, max(peak,
                                                                             cost.peak_elements)
    return x, Cost(flops, params, peak)


def _walk_residual(node: Residual, x: _Tensor) -> tuple[_Tensor, Cost]:
    out, body = _walk(node.body, x)
    if node.projection is None:
        short, proj = x, Cost(0, 0, 0)
    else:
        short, proj = _walk(node.projection, x)
    peak = max(body.peak_elements + x.numel, proj.peak_elements + out.numel,
               out.numel + short.numel + out.numel)
    return out, Cost(body.flops + proj.flops, body.params + proj.params, peak)


@lru_cache(maxsize=65536)
def block_cost(config: BlockConfig) -> Cost:
    """FLOPs, parameters and peak activation elements of a standalone block at batch 1."""
    x = _Tensor(config.in_channels, config.in_shape)
    if config.role != "dec":
        return _walk(block_plan(config), x)[1]
    up = _Tensor(config.in_channels, config.skip_shape)
    skip = _Tensor(config.skip_channels, config.skip_shape)
    cat = _Tensor(up.channels + skip.channels, config.skip_shape)
    _, body = _walk(block_plan(config), cat)
    peak = max(x.numel + up.numel + skip.numel, up.numel + skip.numel + cat.numel,
               body.peak_elements)
    return Cost(body.flops, body.params, peak)


def block_flops(config: BlockConfig) -> int:
    """FLOPs (2 × multiply-accumulates) of one forward pass at batch 1."""
    return block_cost(config).flops


def block_params(config: BlockConfig) -> int:
    return block_cost(config).params


def block_peak_bytes(config: BlockConfig, batch: int = 1, dtype_bytes: int = FP32_BYTES) -> int:
    """Estimated peak activation memory of the block run alone (inputs included)."""
    return block_cost(config).peak_elements * batch * dtype_bytes


def network_flops(space: SearchSpace, arch: Architecture) -> int:
    return sum(block_flops(c) for c in space.block_configs(arch))


def network_params(space: SearchSpace, arch: Architecture) -> int:
    return sum(block_params(c) for c in space.block_configs(arch))


def peak_activation_bytes(space: SearchSpace, arch: Architecture, batch: int = 1,
                          dtype_bytes: int = FP32_BYTES) -> int:
    """Estimated peak activation memory of one inference (compare with a device's RAM:
    a Raspberry Pi 3 has 1 GB for the OS, the runtime, the weights and these)."""
    held: list[int] = []  # encoder outputs kept for the decoder's skips
    peak = 0
    for config in space.block_configs(arch):
        extra = 0
        if config.role == "enc":
            extra = sum(held[:-1])  # the newest one is this block's input, counted in it
            if space.has_decoder and len(held) < arch.depth:
                held.append(config.out_channels * math.prod(config.out_shape))
        elif config.role == "dec":
            held.pop()  # this block's skip input, counted in it
            extra = sum(held)
        peak = max(peak, block_cost(config).peak_elements + extra)
    return peak * batch * dtype_bytes
