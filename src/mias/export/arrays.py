"""The inference-time preprocessing and its inverse, in numpy alone.

A board runs `mias predict` without torch or MONAI, so the rules `mias prepare` applies
with MONAI (anti-aliased linear resampling, per-case z-score, centred crop/pad) are
re-stated here with numpy: linear interpolation with half-pixel centres (what
`torch.nn.functional.interpolate(align_corners=False)` and so MONAI's `Resize` compute),
SciPy's Gaussian (`mode="nearest"`, truncated at 4σ) for the anti-aliasing, and MONAI's
sliding-window positions with nnU-Net's Gaussian importance weighting (σ = window / 8) and
optional mirroring. Tests check each against the torch path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GAUSSIAN_TRUNCATE = 4.0
SIGMA_SCALE = 0.125
MIN_WEIGHT = 1e-3


def resampled_shape(shape: Sequence[int], spacing: Sequence[float],
                    target_spacing: Sequence[float]) -> tuple[int, ...]:
    """The grid that keeps the physical extent at the target spacing (as `prepare`)."""
    return tuple(max(1, int(np.rint(n * s / t)))
                 for n, s, t in zip(shape, spacing, target_spacing, strict=True))


def _linear_axis(data: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Resize one axis by linear interpolation, half-pixel centres, edges clamped."""
    n = data.shape[axis]
    if n == size:
        return data
    src = (np.arange(size, dtype=np.float64) + 0.5) * (n / size) - 0.5
    src = np.clip(src, 0.0, n - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = (src - lo).astype(data.dtype)
    shape = [1] * data.ndim
    shape[axis] = size
    frac = frac.reshape(shape)
    a, b = np.take(data, lo, axis=axis), np.take(data, hi, axis=axis)
    return a + (b - a) * frac


def linear_resize(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """(Bi/tri)linear resize of the spatial axes of a [C, *spatial] array."""
    out = np.asarray(image, dtype=np.float32)
    for axis, size in enumerate(shape, start=1):
        out = _linear_axis(out, axis, int(size))
    return np.ascontiguousarray(out, dtype=np.float32)


def antialias_sigma(shape: Sequence[int], new_shape: Sequence[int]) -> tuple[float, ...]:
    """Gaussian sigma (voxels) per axis before down-sampling (the skimage rule `prepare` uses)."""
    return tuple(max(0.0, (n / m - 1) / 2) for n, m in zip(shape, new_shape, strict=True))


def gaussian_smooth(image: np.ndarray, sigma: Sequence[float]) -> np.ndarray:
    """Separable Gaussian over the spatial axes, edges replicated (SciPy's `mode="nearest"`)."""
    out = np.asarray(image, dtype=np.float32)
    for axis, s in enumerate(sigma, start=1):
        if s <= 0:
            continue
        radius = int(GAUSSIAN_TRUNCATE * s + 0.5)
        x = np.arange(-radius, radius + 1, dtype=np.float64)
        weights = np.exp(-0.5 * (x / s) ** 2)
        weights /= weights.sum()
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = np.zeros(out.shape, dtype=np.float64)
        for k, w in enumerate(weights):
            acc += w * np.take(padded, np.arange(k, k + n), axis=axis)
        out = acc.astype(np.float32)
    return out


def resample_image(image: np.ndarray, spacing: Sequence[float],
                   target_spacing: Sequence[float]) -> np.ndarray:
    """Anti-aliased linear resampling of a [C, *spatial] image to the target spacing."""
    spatial = image.shape[1:]
    new_shape = resampled_shape(spatial, spacing, target_spacing)
    if new_shape == tuple(spatial):
        return np.asarray(image, dtype=np.float32)
    sigma = antialias_sigma(spatial, new_shape)
    smoothed = gaussian_smooth(image, sigma) if any(sigma) else image
    return linear_resize(smoothed, new_shape)


def zscore(image: np.ndarray, *, nonzero: bool) -> np.ndarray:
    """Channel-wise z-score (over the non-zero voxels only when `nonzero`), as `prepare`."""
    out = np.asarray(image, dtype=np.float32).copy()
    for channel in out:
        mask = channel != 0 if nonzero else np.ones(channel.shape, dtype=bool)
        values = channel[mask]
        mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
        std = float(values.std(dtype=np.float64)) if values.size else 1.0
        channel[mask] = (values - mean) / (std if std > 0 else 1.0)
    return out


def normalize(image: np.ndarray, plan: dict[str, Any]) -> np.ndarray:
    """The plan's intensity rule: CT clip + dataset z-score, else per-case z-score."""
    if plan["normalization"] == "ct":
        lo, hi = plan["ct_clip"]
        clipped = np.clip(image, lo, hi).astype(np.float32)
        return ((clipped - plan["ct_mean"]) / plan["ct_std"]).astype(np.float32)
    return zscore(image, nonzero=plan["normalization"] == "mri")


@dataclass(frozen=True)
class Placement:
    """Where an array sits in a crop/pad to a fixed shape: kept box and padding per axis."""

    start: tuple[int, ...]
    stop: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]


def centre_crop_or_pad(image: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, Placement]:
    """Crop centred on the image, or pad symmetrically with its minimum (as `prepare`
    does for a case without a label)."""
    spatial = np.array(image.shape[1:])
    target = np.array(shape)
    start = np.clip(np.floor(spatial / 2 - target / 2 + 0.5).astype(int), 0,
                    np.maximum(spatial - target, 0))
    stop = np.minimum(start + target, spatial)
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    cropped = image[(slice(None), *box)]
    missing = np.maximum(target - (stop - start), 0)
    pad = tuple((int(m // 2), int(m - m // 2)) for m in missing)
    out = np.pad(cropped, [(0, 0), *pad], mode="constant", constant_values=float(image.min()))
    placement = Placement(tuple(int(a) for a in start), tuple(int(b) for b in stop), pad)
    return np.ascontiguousarray(out, dtype=np.float32), placement


def pad_to_at_least(image: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, Placement]:
    """Pad (never crop) each axis up to `shape`, symmetrically with the image minimum."""
    spatial = image.shape[1:]
    return centre_crop_or_pad(image, [max(s, n) for s, n in zip(spatial, shape, strict=True)])


def unpad(array: np.ndarray, placement: Placement) -> np.ndarray:
    """Undo the padding of a [C, *spatial] array placed by `pad_to_at_least`."""
    box = tuple(slice(b, array.shape[1 + i] - a) for i, (b, a) in enumerate(placement.pad))
    return array[(slice(None), *box)]


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """MONAI's sliding-window start positions along one axis (the last flush with the end)."""
    if size <= roi:
        return [0]
    step = max(1, int(roi * (1 - overlap)))
    count = int(np.ceil((size - roi) / step)) + 1
    return sorted({min(i * step, size - roi) for i in range(count)})


def gaussian_importance(roi: Sequence[int], sigma_scale: float = SIGMA_SCALE) -> np.ndarray:
    """Window weights peaking at the centre (σ = `sigma_scale` × window, floored at 1e-3,
    as MONAI's `compute_importance_map`): a voxel counts most from the window it is central
    in, where the network saw its whole context."""
    weights = np.ones((), dtype=np.float64)
    for r in roi:
        x = np.arange(r, dtype=np.float64) - (r - 1) / 2
        axis = np.exp(-0.5 * (x / (r * sigma_scale)) ** 2)
        weights = np.multiply.outer(weights, axis)
    return np.maximum(weights, max(float(weights.min()), MIN_WEIGHT)).astype(np.float32)


def mirrored(run: Callable[[np.ndarray], np.ndarray],
             spatial_dims: int) -> Callable[[np.ndarray], np.ndarray]:
    """`run` with its logits averaged over every flip of the spatial axes of the batch
    (mirroring test-time augmentation; the empty flip is the plain prediction)."""
    axes = range(2, 2 + spatial_dims)
    flips = [c for r in range(spatial_dims + 1) for c in itertools.combinations(axes, r)]

    def averaged(batch: np.ndarray) -> np.ndarray:
        total = sum(np.flip(run(np.ascontiguousarray(np.flip(batch, f))), f) if f else run(batch)
                    for f in flips)
        return total / len(flips)

    return averaged


def sliding_window(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                   roi: Sequence[int], overlap: float, batch: int = 1,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Outputs [K, *spatial] of an image at least `roi` large, window by window,
    overlapping windows averaged with `weights` (MONAI's `sliding_window_inference`:
    constant mode without weights, Gaussian with `gaussian_importance(roi)`)."""
    spatial = image.shape[1:]
    w = np.ones(tuple(roi), dtype=np.float32) if weights is None else weights
    starts = np.stack(np.meshgrid(*[window_starts(s, r, overlap)
                                    for s, r in zip(spatial, roi, strict=True)],
                                  indexing="ij"), -1).reshape(-1, len(spatial))
    total: np.ndarray | None = None
    count = np.zeros(spatial, dtype=np.float32)
    for i in range(0, len(starts), batch):
        chunk = starts[i:i + batch]
        boxes = [tuple(slice(int(a), int(a) + r) for a, r in zip(s, roi, strict=True))
                 for s in chunk]
        out = run(np.stack([image[(slice(None), *b)] for b in boxes]))
        if total is None:
            total = np.zeros((out.shape[1], *spatial), dtype=np.float32)
        for box, probs in zip(boxes, out, strict=True):
            total[(slice(None), *box)] += probs * w
            count[box] += w
    return total / count
