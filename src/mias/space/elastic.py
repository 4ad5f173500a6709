"""Input-channel slicing: how one set of weights serves every input width (Once-for-All).

A supernet candidate is built for the widest input it can receive. A narrower input uses a
selection `sel` of the weight's input channels: a tuple of half-open ranges into that widest
layout. An encoder block's input is `((0, c),)`; a decoder's concatenation [up-sampled main,
skip] takes each part from its own reserved range, `((0, c_main), (M, M + c_skip))`.
Materialising copies exactly these slices, so the standalone block computes the same thing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

Sel = tuple[tuple[int, int], ...]

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def width(sel: Sel) -> int:
    return sum(b - a for a, b in sel)


def take(t: torch.Tensor, dim: int, sel: Sel) -> torch.Tensor:
    """The slices `sel` of `t` along `dim`, concatenated (a view for a single range)."""
    parts = [t.narrow(dim, a, b - a) for a, b in sel]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


def put(t: torch.Tensor, dim: int, sel: Sel, value: torch.Tensor) -> None:
    """Write `value` (laid out as `take(t, dim, sel)`) back into `t` in place."""
    at = 0
    for a, b in sel:
        t.narrow(dim, a, b - a).copy_(value.narrow(dim, at, b - a))
        at += b - a


def is_depthwise(conv: nn.Module) -> bool:
    return isinstance(conv, nn.modules.conv._ConvNd) and conv.groups > 1 \
        and conv.groups == conv.in_channels == conv.out_channels


def channelwise(module: nn.Module) -> bool:
    """True when the module keeps each channel apart, so a selection passes through it."""
    return is_depthwise(module) or isinstance(
        module, _BatchNorm | _InstanceNorm | nn.ReLU | nn.LeakyReLU | nn.Hardswish
        | nn.modules.pooling._AdaptiveAvgPoolNd | nn.Flatten)


def conv(m: nn.modules.conv._ConvNd, x: torch.Tensor, sel: Sel) -> torch.Tensor:
    """`m(x)` with `x` holding the input channels `sel` of `m`'s widest input."""
    fn = _CONV_FN[len(m.kernel_size)]
    if is_depthwise(m):
        bias = None if m.bias is None else take(m.bias, 0, sel)
        return fn(x, take(m.weight, 0, sel), bias, m.stride, m.padding, m.dilation, width(sel))
    return fn(x, take(m.weight, 1, sel), m.bias, m.stride, m.padding, m.dilation, m.groups)


def linear(m: nn.Linear, x: torch.Tensor, sel: Sel) -> torch.Tensor:
    return F.linear(x, take(m.weight, 1, sel), m.bias)


def instance_norm(m: _InstanceNorm, x: torch.Tensor, sel: Sel) -> torch.Tensor:
    if m.track_running_stats:
        raise ValueError("elastic instance norm supports track_running_stats=False only")
    weight = None if m.weight is None else take(m.weight, 0, sel)
    bias = None if m.bias is None else take(m.bias, 0, sel)
    return F.instance_norm(x, None, None, weight, bias, True, m.momentum or 0.0, m.eps)


def batch_norm(m: _BatchNorm, x: torch.Tensor, sel: Sel) -> torch.Tensor:
    """`nn.BatchNorm` on the selected channels; running statistics are updated in place in
    the selected slots, as the full layer would update them."""
    weight = None if m.weight is None else take(m.weight, 0, sel)
    bias = None if m.bias is None else take(m.bias, 0, sel)
    if not m.track_running_stats:
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, m.eps)
    factor = 0.0 if m.momentum is None else m.momentum
    if m.training:
        m.num_batches_tracked.add_(1)
        if m.momentum is None:
            factor = 1.0 / float(m.num_batches_tracked)
    mean = take(m.running_mean, 0, sel).clone()
    var = take(m.running_var, 0, sel).clone()
    out = F.batch_norm(x, mean, var, weight, bias, m.training, factor, m.eps)
    if m.training:
        with torch.no_grad():
            put(m.running_mean, 0, sel, mean)
            put(m.running_var, 0, sel, var)
    return out


def apply(module: nn.Module, x: torch.Tensor, sel: Sel) -> torch.Tensor:
    """Run a primitive module on the selected input channels."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return conv(module, x, sel)
    if isinstance(module, nn.Linear):
        return linear(module, x, sel)
    if isinstance(module, _InstanceNorm):
        return instance_norm(module, x, sel)
    if isinstance(module, _BatchNorm):
        return batch_norm(module, x, sel)
    if channelwise(module):
        return module(x)
    raise TypeError(f"{type(module).__name__} cannot run on a channel selection")


def sliced_state(src: nn.Module, dst: nn.Module, sel: Sel | None) -> dict[str, torch.Tensor]:
    """`src`'s state shaped for `dst` (same structure, narrower input): every tensor whose
    shape differs is an input-channel tensor and takes the slices `sel` along that axis."""
    source = src.state_dict()
    out = {}
    for name, target in dst.state_dict().items():
        value = source[name]
        if value.shape != target.shape:
            dims = [d for d, (a, b) in enumerate(zip(value.shape, target.shape, strict=True))
                    if a != b]
            if sel is None or len(dims) != 1 or width(sel) != target.shape[dims[0]]:
                raise ValueError(f"{name}: cannot slice {tuple(value.shape)} to "
                                 f"{tuple(target.shape)} with {sel}")
            value = take(value, dims[0], sel)
        out[name] = value.detach().clone()
    return out
