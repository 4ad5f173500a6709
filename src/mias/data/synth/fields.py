"""Vectorised building blocks of synthetic images: smooth random fields, shapes, MRI physics.

Every function that draws takes a `numpy.random.Generator`, so a case is a pure function
of its seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def centred_grid(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
    """Open (broadcastable) coordinate arrays in mm, zero at the grid centre."""
    return [((np.arange(n, dtype=np.float32) - (n - 1) / 2) * np.float32(s)).reshape(
        [n if a == axis else 1 for a in range(len(shape))])
        for axis, (n, s) in enumerate(zip(shape, spacing, strict=True))]


def smooth_noise(shape: Sequence[int], sigma: float | Sequence[float],
                 rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise, re-standardised to zero mean and unit variance."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape), dtype=np.float32),
                                    sigma, mode="reflect")
    field -= field.mean()
    field /= max(float(field.std()), 1e-6)
    return field


def ellipsoid(grid: Sequence[np.ndarray], centre: Sequence[float],
              radii: Sequence[float]) -> np.ndarray:
    """Normalised radial distance to an axis-aligned ellipsoid: < 1 inside, 1 on its surface."""
    return np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)))


def bias_field(shape: Sequence[int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative coil inhomogeneity: exp of a random quadratic, mean about 1."""
    grid = [g / max(1.0, float(np.abs(g).max())) for g in centred_grid(shape, [1.0] * len(shape))]
    log = sum(rng.normal(0.0, 1.0) * g for g in grid)
    log = log + sum(rng.normal(0.0, 0.5) * g * h for i, g in enumerate(grid) for h in grid[i:])
    log = np.broadcast_to(log, tuple(shape)).astype(np.float32)
    log *= strength / max(float(np.abs(log).max()), 1e-6)
    return np.exp(log - log.mean())


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (MRI magnitude)."""
    real = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag)


def quantise(image: np.ndarray, scale: float, dtype: type[np.integer],
             maximum: int) -> np.ndarray:
    """Scale to the scanner's stored integer range, as the console would write it."""
    return np.clip(np.rint(image * scale), 0, maximum).astype(dtype)


def exact_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask with exactly round(n * fraction) randomly placed True entries."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: round(n * fraction)]] = True
    return mask
