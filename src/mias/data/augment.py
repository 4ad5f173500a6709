"""Training-time augmentation that yields the deterministic transform it applied (TorchIO).

`RandomAugment.sample(rng)` draws an `AugmentParams`; `apply(params, ...)` is a pure
function of those parameters, so any augmented sample can be logged, replayed bit for bit
and inverted. The spatial part uses MONAI's deterministic `Flip` and `Rotate90`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from monai.transforms import Flip, Rotate90
from monai.utils import convert_to_numpy


@dataclass(frozen=True)
class AugmentParams:
    """One drawn augmentation: spatial flips, a 90° rotation, intensity affine, noise.

    Applied in this order: flips, rotation by `rot90_k` quarter turns in the plane
    `rot90_axes` (spatial axes), `image * intensity_scale + intensity_shift`, then Gaussian
    noise of std `noise_std` drawn from `noise_seed`.
    """

    flip_axes: tuple[int, ...] = ()
    rot90_k: int = 0
    rot90_axes: tuple[int, int] = (0, 1)
    intensity_scale: float = 1.0
    intensity_shift: float = 0.0
    noise_std: float = 0.0
    noise_seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flip_axes"] = list(self.flip_axes)
        d["rot90_axes"] = list(self.rot90_axes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentParams:
        kw = dict(d)
        kw["flip_axes"] = tuple(int(a) for a in kw.get("flip_axes", ()))
        kw["rot90_axes"] = tuple(int(a) for a in kw.get("rot90_axes", (0, 1)))
        return cls(**kw)


@dataclass(frozen=True)
class RandomAugment:
    """Random flips, quarter turns, intensity scale/shift and noise, each with a probability.

    Quarter turns only keep the array shape in a square plane, so `rot90_axes` should name
    two spatial axes of equal size (`for_shape` picks one) or be `None`.
    """

    spatial_dims: int
    flip_axes: tuple[int, ...] | None = None
    flip_prob: float = 0.5
    rot90_axes: tuple[int, int] | None = None
    rot90_prob: float = 0.5
    scale_range: tuple[float, float] = (0.9, 1.1)
    shift_range: tuple[float, float] = (-0.1, 0.1)
    intensity_prob: float = 0.5
    noise_std_range: tuple[float, float] = (0.0, 0.05)
    noise_prob: float = 0.3

    @classmethod
    def for_shape(cls, input_shape: Sequence[int], **kw: Any) -> RandomAugment:
        """Flip every axis; rotate in the last plane of two equal-sized axes, if any."""
        shape = tuple(input_shape)
        square = [
            (a, b)
            for a in range(len(shape))
            for b in range(a + 1, len(shape))
            if shape[a] == shape[b]
        ]
        kw.setdefault("rot90_axes", square[-1] if square else None)
        return cls(spatial_dims=len(shape), **kw)

    def sample(self, rng: np.random.Generator) -> AugmentParams:
        """Draw one augmentation; the draw order is fixed so a seed fixes the parameters."""
        axes = tuple(range(self.spatial_dims)) if self.flip_axes is None else self.flip_axes
        flips = tuple(a for a in axes if rng.random() < self.flip_prob)
        k = int(rng.integers(1, 4)) if rng.random() < self.rot90_prob else 0
        if self.rot90_axes is None:
            k = 0
        scale, shift = 1.0, 0.0
        if rng.random() < self.intensity_prob:
            scale = float(rng.uniform(*self.scale_range))
            shift = float(rng.uniform(*self.shift_range))
        noise = float(rng.uniform(*self.noise_std_range)) if rng.random() < self.noise_prob else 0.0
        return AugmentParams(
            flip_axes=flips,
            rot90_k=k,
            rot90_axes=self.rot90_axes or (0, 1),
            intensity_scale=scale,
            intensity_shift=shift,
            noise_std=noise,
            noise_seed=int(rng.integers(0, 2**31 - 1)),
        )

    @staticmethod
    def apply(
        params: AugmentParams, image: np.ndarray, label: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply `params` deterministically: the same parameters give the same arrays."""
        spatial = []
        if params.flip_axes:
            spatial.append(Flip(spatial_axis=list(params.flip_axes)))
        if params.rot90_k % 4:
            spatial.append(Rotate90(k=params.rot90_k, spatial_axes=params.rot90_axes))
        out = np.asarray(image, dtype=np.float32)
        lab = label
        for tx in spatial:
            out = np.asarray(convert_to_numpy(tx(out)), dtype=np.float32)
            if lab is not None:
                lab = np.asarray(convert_to_numpy(tx(lab[None])), dtype=label.dtype)[0]
        out = out * np.float32(params.intensity_scale) + np.float32(params.intensity_shift)
        if params.noise_std > 0:
            noise = np.random.default_rng(params.noise_seed).normal(
                0.0, params.noise_std, out.shape
            )
            out = out + noise.astype(np.float32)
        return np.ascontiguousarray(
            out, dtype=np.float32
        ), None if lab is None else np.ascontiguousarray(lab)

    def __call__(
        self, image: np.ndarray, label: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None, AugmentParams]:
        params = self.sample(rng)
        out, lab = self.apply(params, image, label)
        return out, lab, params
