"""The roofline model: time = max(FLOPs / peak FLOP/s, bytes moved / memory bandwidth).

Bytes moved per block are its input, skip and output activations plus its weights, each
read or written once (fp32); intermediate tensors are assumed to stay in cache. That is the
textbook lower bound, which is why its figures are labelled `estimated`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mias.hardware.devices import DeviceProfile
from mias.space import block_params

if TYPE_CHECKING:
    from mias.space import BlockConfig

FLOAT32_BYTES = 4


def roofline_ms(flops: float, bytes_moved: float, device: DeviceProfile) -> float:
    """Latency (ms) of `flops` and `bytes_moved` on `device` at its peaks."""
    peak = device.peak_gflops
    bandwidth = device.memory_bandwidth_gbs.value
    if peak is None or bandwidth is None:
        raise ValueError(f"device {device.name!r} has no peak FLOP/s or bandwidth figure")
    return max(flops / (peak * 1e9), bytes_moved / (bandwidth * 1e9)) * 1e3


def block_bytes(config: BlockConfig, dtype_bytes: int = FLOAT32_BYTES) -> int:
    """Activations in and out plus weights of one block, in bytes."""
    elements = (config.in_channels * math.prod(config.in_shape)
                + config.skip_channels * math.prod(config.skip_shape)
                + config.out_channels * math.prod(config.out_shape) + block_params(config))
    return elements * dtype_bytes
