"""Training-time augmentation that yields the deterministic transform it applied (TorchIO).

Two sets share one pattern: `sample(rng)` draws a parameter record, `apply(params, ...)`
is a pure function of it, so any augmented sample can be logged, replayed bit for bit and
inverted. `NnUNetAugment` is nnU-Net's training set (rotation and scaling, Gaussian noise,
Gaussian blur, multiplicative brightness, contrast, low-resolution simulation, gamma,
mirroring) with nnU-Net's probabilities and ranges, built from MONAI's deterministic
transforms; every network MIAS trains uses it. `RandomAugment` is a lighter set (flips,
quarter turns, intensity affine, noise) kept for quick experiments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import AdjustContrast, Affine, Flip, GaussianSmooth, Resize, Rotate90
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


@dataclass(frozen=True)
class NnUNetParams:
    """One draw of nnU-Net's augmentation; `None` (or empty) means the step was skipped.

    Applied in nnU-Net's order: rotation (radians per rotation axis) and isotropic
    `scale` (one affine, bilinear image, nearest label), Gaussian noise of variance
    `noise_variance` (seeded by `noise_seed`), Gaussian blur `blur_sigma`, brightness
    factor, contrast factor (range preserved), low-resolution simulation at `low_res`
    zoom, inverted gamma, gamma, then mirroring of `mirror_axes`.
    """

    rotation: tuple[float, ...] | None = None
    scale: float | None = None
    noise_variance: float | None = None
    noise_seed: int = 0
    blur_sigma: float | None = None
    brightness: float | None = None
    contrast: float | None = None
    low_res: float | None = None
    gamma_inverted: float | None = None
    gamma: float | None = None
    mirror_axes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rotation"] = None if self.rotation is None else list(self.rotation)
        d["mirror_axes"] = list(self.mirror_axes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NnUNetParams:
        kw = dict(d)
        if kw.get("rotation") is not None:
            kw["rotation"] = tuple(float(a) for a in kw["rotation"])
        kw["mirror_axes"] = tuple(int(a) for a in kw.get("mirror_axes", ()))
        return cls(**kw)


@dataclass(frozen=True)
class NnUNetAugment:
    """nnU-Net's default training augmentation (probabilities and ranges as nnU-Net v2)."""

    spatial_dims: int
    rotation_prob: float = 0.2
    rotation_range: float = np.pi / 6
    scale_prob: float = 0.2
    scale_range: tuple[float, float] = (0.7, 1.4)
    noise_prob: float = 0.1
    noise_variance: tuple[float, float] = (0.0, 0.1)
    blur_prob: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    brightness_prob: float = 0.15
    brightness_range: tuple[float, float] = (0.75, 1.25)
    contrast_prob: float = 0.15
    contrast_range: tuple[float, float] = (0.75, 1.25)
    low_res_prob: float = 0.25
    low_res_range: tuple[float, float] = (0.5, 1.0)
    gamma_inverted_prob: float = 0.1
    gamma_prob: float = 0.3
    gamma_range: tuple[float, float] = (0.7, 1.5)
    mirror_prob: float = 0.5

    def _gamma(self, rng: np.random.Generator) -> float:
        """nnU-Net draws gamma below or above 1 with equal odds."""
        low, high = self.gamma_range
        if rng.random() < 0.5 and low < 1:
            return float(rng.uniform(low, 1.0))
        return float(rng.uniform(max(low, 1.0), high))

    def sample(self, rng: np.random.Generator) -> NnUNetParams:
        """Draw one augmentation; a fixed draw order makes the parameters a function of
        the generator's state."""
        n_rot = 3 if self.spatial_dims == 3 else 1
        rot = tuple(float(a) for a in rng.uniform(-self.rotation_range, self.rotation_range,
                                                  n_rot))
        rotation = rot if rng.random() < self.rotation_prob else None
        scale_draw = float(rng.uniform(*self.scale_range))
        scale = scale_draw if rng.random() < self.scale_prob else None
        noise = float(rng.uniform(*self.noise_variance))
        noise_seed = int(rng.integers(0, 2**31 - 1))
        blur = float(rng.uniform(*self.blur_sigma))
        bright = float(rng.uniform(*self.brightness_range))
        contrast = float(rng.uniform(*self.contrast_range))
        low_res = float(rng.uniform(*self.low_res_range))
        g_inv, g = self._gamma(rng), self._gamma(rng)
        flags = rng.random(7)
        mirror = tuple(a for a, u in enumerate(rng.random(self.spatial_dims))
                       if u < self.mirror_prob)
        return NnUNetParams(
            rotation=rotation, scale=scale,
            noise_variance=noise if flags[0] < self.noise_prob else None,
            noise_seed=noise_seed,
            blur_sigma=blur if flags[1] < self.blur_prob else None,
            brightness=bright if flags[2] < self.brightness_prob else None,
            contrast=contrast if flags[3] < self.contrast_prob else None,
            low_res=low_res if flags[4] < self.low_res_prob else None,
            gamma_inverted=g_inv if flags[5] < self.gamma_inverted_prob else None,
            gamma=g if flags[6] < self.gamma_prob else None,
            mirror_axes=mirror)

    @staticmethod
    def apply(params: NnUNetParams, image: np.ndarray, label: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply `params` deterministically: the same parameters give the same arrays."""
        img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        lab = None if label is None else np.asarray(label)
        if params.rotation is not None or params.scale is not None:
            img, lab = _affine(params, img, lab)
        if params.noise_variance:
            gen = torch.Generator().manual_seed(params.noise_seed)
            img = img + torch.randn(img.shape, generator=gen) * params.noise_variance ** 0.5
        if params.blur_sigma is not None:
            img = _tensor(GaussianSmooth(sigma=params.blur_sigma)(img))
        if params.brightness is not None:
            img = img * params.brightness
        if params.contrast is not None:
            img = _contrast(img, params.contrast)
        if params.low_res is not None:
            img = _low_res(img, params.low_res)
        if params.gamma_inverted is not None:
            img = _tensor(AdjustContrast(params.gamma_inverted, invert_image=True,
                                         retain_stats=True)(img))
        if params.gamma is not None:
            img = _tensor(AdjustContrast(params.gamma, retain_stats=True)(img))
        out = img.numpy()
        if params.mirror_axes:
            flip = Flip(spatial_axis=list(params.mirror_axes))
            out = np.asarray(convert_to_numpy(flip(out)), dtype=np.float32)
            if lab is not None:
                lab = np.asarray(convert_to_numpy(flip(lab[None])), dtype=lab.dtype)[0]
        return (np.ascontiguousarray(out, dtype=np.float32),
                None if lab is None else np.ascontiguousarray(lab))

    def __call__(self, image: np.ndarray, label: np.ndarray | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray | None, NnUNetParams]:
        params = self.sample(rng)
        out, lab = self.apply(params, image, label)
        return out, lab, params


def _tensor(x: Any) -> torch.Tensor:
    return torch.as_tensor(x).as_subclass(torch.Tensor)


def _affine(params: NnUNetParams, img: torch.Tensor, lab: np.ndarray | None
            ) -> tuple[torch.Tensor, np.ndarray | None]:
    """Rotation and isotropic scaling about the centre, zeros outside (background)."""
    dims = img.ndim - 1
    kw: dict[str, Any] = {"padding_mode": "zeros", "image_only": True}
    if params.rotation is not None:
        kw["rotate_params"] = list(params.rotation)
    if params.scale is not None:
        kw["scale_params"] = [params.scale] * dims
    img = _tensor(Affine(mode="bilinear", **kw)(img))
    if lab is not None:
        moved = Affine(mode="nearest", **kw)(torch.from_numpy(lab[None].astype(np.float32)))
        lab = np.rint(_tensor(moved).numpy()[0]).astype(lab.dtype)
    return img, lab


def _contrast(img: torch.Tensor, factor: float) -> torch.Tensor:
    """nnU-Net's contrast: scale about each channel's mean, clipped to its old range."""
    dims = tuple(range(1, img.ndim))
    mean = img.mean(dim=dims, keepdim=True)
    low, high = img.amin(dim=dims, keepdim=True), img.amax(dim=dims, keepdim=True)
    return torch.clamp((img - mean) * factor + mean, low, high)


def _low_res(img: torch.Tensor, zoom: float) -> torch.Tensor:
    """Down-sample by nearest neighbour, then back up by linear interpolation."""
    shape = tuple(img.shape[1:])
    small = tuple(max(1, round(s * zoom)) for s in shape)
    up_mode = "trilinear" if len(shape) == 3 else "bilinear"
    down = Resize(small, mode="nearest")(img)
    return _tensor(Resize(shape, mode=up_mode)(down))
