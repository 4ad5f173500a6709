"""Per-axis down-sampling plan (nnU-Net style) and kernel fit.

Each stage halves an axis only when that is exact and still meaningful: the axis is even,
the halved axis keeps at least `MIN_FEATURE` voxels, and its spacing is within
`ANISOTROPY_RATIO` of the finest axis (a coarse slice axis waits until the in-plane axes
catch up). Every shape in the space therefore divides exactly, and a decoder's up-sampling
restores the encoder's shape (MONAI's UNet fails on 14 → 7 → 4 → 8 ≠ 7).
"""

from __future__ import annotations

from collections.abc import Sequence

from mias.space.search_space import Stage

MIN_FEATURE = 4
ANISOTROPY_RATIO = 2.0


def plan_stages(shape: Sequence[int], spacing: Sequence[float], max_depth: int) -> list[Stage]:
    """Stages 0…n (n ≤ `max_depth`) with the stride each one applies per axis."""
    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    stages = [Stage(shape, (1,) * len(shape), spacing)]
    while len(stages) <= max_depth:
        stride = halving(shape, spacing)
        if not any(s > 1 for s in stride):
            break
        shape = tuple(n // s for n, s in zip(shape, stride, strict=True))
        spacing = tuple(p * s for p, s in zip(spacing, stride, strict=True))
        stages.append(Stage(shape, stride, spacing))
    return stages


def halving(shape: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[int, ...]:
    """Per-axis stride (1 or 2) of the next down-sampling from a stage of this shape."""
    finest = min(spacing)
    return tuple(2 if n % 2 == 0 and n // 2 >= MIN_FEATURE and p / finest < ANISOTROPY_RATIO
                 else 1 for n, p in zip(shape, spacing, strict=True))


def coarse_axes(stage: Stage) -> tuple[int, ...]:
    """Axes at least `ANISOTROPY_RATIO` coarser than the finest and not strided into this
    stage: where an anisotropic kernel puts 1 (a 3×3×1 kernel in RAS order)."""
    finest = min(stage.spacing)
    return tuple(a for a, (p, s) in enumerate(zip(stage.spacing, stage.stride, strict=True))
                 if p / finest >= ANISOTROPY_RATIO and s == 1)


def kernel_extent(kernel: Sequence[int], dilation: int = 1) -> tuple[int, ...]:
    """Voxels a kernel spans per axis."""
    return tuple(dilation * (k - 1) + 1 for k in kernel)


def fits(kernel: Sequence[int], shape: Sequence[int], dilation: int = 1) -> bool:
    """A kernel fits a feature map when it spans no more voxels than the map on any axis
    it convolves (larger kernels only see zero padding beyond the map)."""
    return all(e <= n for e, k, n in zip(kernel_extent(kernel, dilation), kernel, shape,
                                         strict=True) if k > 1)


def fmt_shape(shape: Sequence[int | float]) -> str:
    return "×".join(f"{s:g}" for s in shape)
