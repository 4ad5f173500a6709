"""Hand-made features for the classical baselines.

Voxels (segmentation): per channel the intensity, Gaussian-smoothed intensities (σ = 1, 2
voxels) and the gradient magnitude (σ = 1), plus the voxel's position scaled to [0, 1] per
axis — SciPy's `ndimage` filters. Images (classification, regression): per channel the
mean, standard deviation and deciles, and the image block-averaged to a 4-per-axis grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SIGMAS = (1.0, 2.0)
GRID = 4


def voxel_features(image: np.ndarray) -> np.ndarray:
    """(C, *spatial) → (voxels, features), float32."""
    spatial = image.shape[1:]
    cols = []
    for channel in image.astype(np.float32):
        cols.append(channel)
        cols.extend(ndimage.gaussian_filter(channel, s) for s in SIGMAS)
        cols.append(ndimage.gaussian_gradient_magnitude(channel, 1.0))
    grids = np.meshgrid(*[np.linspace(0.0, 1.0, n, dtype=np.float32) for n in spatial],
                        indexing="ij")
    cols.extend(grids)
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
    """Half the draws from foreground voxels (when any), half uniform: seeded."""
    labels = mask.reshape(-1)
    fg = np.flatnonzero(labels > 0)
    n_fg = min(len(fg), per_case // 2)
    idx = np.concatenate([rng.choice(fg, n_fg, replace=False) if n_fg else
                          np.empty(0, dtype=int),
                          rng.integers(0, len(labels), per_case - n_fg)])
    return features[idx], labels[idx]
