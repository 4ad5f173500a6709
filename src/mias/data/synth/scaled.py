"""Down-scaled variants of registered generators, for benchmarks that train hundreds of nets.

`ScaledGenerator` zooms every case of another generator by one factor on all axes (linear
for images, nearest for masks) and coarsens the affine accordingly, so modality, channels,
labels, anisotropy and the table target stay those of the original task.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mias.data.synth.base import CaseGenerator, Scan, SyntheticCase
from mias.data.synth.registry import create_generator, register_generator


class ScaledGenerator(CaseGenerator):
    """`base` with every case zoomed by `zoom` (< 1 shrinks)."""

    def __init__(self, base: str, zoom: float) -> None:
        if not 0.0 < zoom <= 1.0:
            raise ValueError(f"zoom must be in (0, 1], got {zoom}")
        self.base = create_generator(base)
        self.zoom = zoom
        self.info = self.base.info
        self.male_fraction = self.base.male_fraction

    def sample_age(self, rng: np.random.Generator) -> float:
        return self.base.sample_age(rng)

    def generate(self, scan: Scan) -> SyntheticCase:
        case = self.base.generate(scan)
        shape = case.label.shape
        new = tuple(max(1, round(n * self.zoom)) for n in shape)
        factors = [m / n for m, n in zip(new, shape, strict=True)]
        image = np.stack([ndimage.zoom(c.astype(np.float32), factors, order=1)
                          for c in case.image])
        info = np.iinfo(case.image.dtype)
        image = np.clip(np.rint(image), info.min, info.max).astype(case.image.dtype)
        label = ndimage.zoom(case.label, factors, order=0)
        affine = case.affine.copy()
        affine[:-1, :-1] = affine[:-1, :-1] / np.asarray(factors)
        return SyntheticCase(image=image, label=label, affine=affine, target=case.target,
                             acquisition=case.acquisition)


@register_generator("hippocampus-small")
def hippocampus_small() -> ScaledGenerator:
    """Task04 at half size (~18×25×18 voxels at 2 mm)."""
    return ScaledGenerator("hippocampus", 0.5)


@register_generator("braintumour-small")
def braintumour_small() -> ScaledGenerator:
    """Task01 at 3/8 size (24×24×15 voxels at 10 mm)."""
    return ScaledGenerator("braintumour", 0.375)
