"""Hand-made features for the classical baselines.

Voxels (segmentation): per channel the intensity, Gaussian-smoothed intensities (σ = 1, 2
voxels) and the gradient magnitude (σ = 1), plus the voxel's position on the prepared grid:
voxels from the centre of the whole (resampled, padded) scan, in units of the network input
shape. A training case is a crop of that scan (centred on its label), an evaluated one the
whole scan, so positions scaled to each image's own extent would mean different places in
training and in evaluation; measured from the scan's centre on the same grid they agree.
Images (classification, regression): per channel the mean, standard deviation and deciles,
and the image block-averaged to a 4-per-axis grid. SciPy's `ndimage` filters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

SIGMAS = (1.0, 2.0)
GRID = 4


def positions(spatial: Sequence[int], scale: Sequence[int], offset: Sequence[int] | None = None,
              extent: Sequence[int] | None = None) -> list[np.ndarray]:
    """Per axis, (index + offset − centre of `extent`) / `scale`, on the image's grid.

    `offset` is where the image starts inside the whole scan of shape `extent` (a training
    crop); by default the image is the whole scan.
    """
    offset = offset or (0,) * len(spatial)
    extent = extent or tuple(spatial)
    axes = [(np.arange(n, dtype=np.float32) + o - (e - 1) / 2) / s
            for n, o, e, s in zip(spatial, offset, extent, scale, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


def voxel_features(image: np.ndarray, scale: Sequence[int] | None = None,
                   offset: Sequence[int] | None = None,
                   extent: Sequence[int] | None = None) -> np.ndarray:
    """(C, *spatial) → (voxels, features), float32; `scale` is the network input shape."""
    spatial = image.shape[1:]
    cols = []
    for channel in image.astype(np.float32):
        cols.append(channel)
        cols.extend(ndimage.gaussian_filter(channel, s) for s in SIGMAS)
        cols.append(ndimage.gaussian_gradient_magnitude(channel, 1.0))
    cols.extend(positions(spatial, scale or spatial, offset, extent))
    return np.stack([c.reshape(-1) for c in cols], axis=1).astype(np.float32)


def image_features(image: np.ndarray) -> np.ndarray:
    """(C, *spatial) → (features,), float32."""
    out = []
    for channel in image.astype(np.float32):
        out += [channel.mean(), channel.std(), *np.percentile(channel, np.arange(10, 100, 10))]
        factors = [max(1, n // GRID) for n in channel.shape]
        trimmed = channel[tuple(slice(0, f * GRID) for f in factors)]
        shape = [v for f in factors for v in (GRID, f)]
        out += list(trimmed.reshape(shape).mean(axis=tuple(range(1, 2 * len(factors), 2)))
                    .ravel())
    return np.asarray(out, dtype=np.float32)


def sample_voxels(features: np.ndarray, mask: np.ndarray, per_case: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half the draws from foreground voxels (when any), half uniform: seeded. The draw
    over-represents the foreground; `classical.PriorShift` corrects for it."""
    labels = mask.reshape(-1)
    fg = np.flatnonzero(labels > 0)
    n_fg = min(len(fg), per_case // 2)
    idx = np.concatenate([rng.choice(fg, n_fg, replace=False) if n_fg else
                          np.empty(0, dtype=int),
                          rng.integers(0, len(labels), per_case - n_fg)])
    return features[idx], labels[idx]
