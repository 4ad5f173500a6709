"""Voxel grids in canonical RAS, computed from headers alone.

Every reader reorients to the closest canonical (RAS) axis order, as
`nibabel.as_closest_canonical` does, so that images and masks from any source can be
compared and stacked. Computing the canonical grid from the header (shape, affine) lets
`discover` check masks and channels without decoding a voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

AFFINE_ATOL = 1e-3   # mm: float32 header storage and DICOM decimal strings round below this
AFFINE_RTOL = 1e-5


@dataclass(frozen=True)
class Grid:
    """A 3-axis voxel grid: canonical shape/affine/spacing plus the file-order originals.

    `nominal` marks a grid without patient geometry (a radiograph without
    ImageOrientationPatient): its affine is a convention, so masks are matched on the
    file-order shape only.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    spacing: tuple[float, float, float]
    source_shape: tuple[int, int, int]
    source_affine: np.ndarray
    source_spacing: tuple[float, float, float]
    nominal: bool = False

    @property
    def flat_axis(self) -> int | None:
        """The canonical axis of size 1 of a 2D image; `None` for a volume."""
        flat = [i for i, n in enumerate(self.shape) if n == 1]
        return flat[0] if len(flat) == 1 else None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        axis = self.flat_axis
        return tuple(n for i, n in enumerate(self.shape) if i != axis)

    @property
    def spatial_spacing(self) -> tuple[float, ...]:
        axis = self.flat_axis
        return tuple(s for i, s in enumerate(self.spacing) if i != axis)

    def matches(self, other: Grid) -> bool:
        """Same voxels in the same place (affines equal within a float tolerance)."""
        if self.nominal or other.nominal:
            return self.source_shape == other.source_shape
        return self.shape == other.shape and bool(
            np.allclose(self.affine, other.affine, rtol=AFFINE_RTOL, atol=AFFINE_ATOL))

    def describe(self) -> str:
        if self.nominal:
            return f"shape {self.source_shape} (no patient geometry)"
        origin = np.round(self.affine[:3, 3], 3).tolist()
        return f"shape {self.shape}, spacing {tuple(round(s, 4) for s in self.spacing)}, " \
               f"origin {origin}"


def canonical_grid(shape: Sequence[int], affine: np.ndarray, spacing: Sequence[float],
                   *, nominal: bool = False) -> Grid:
    """The grid that `nibabel.as_closest_canonical` would give, from header values only.

    `shape` and `spacing` are in file voxel order (3 axes; `spacing` is the header's voxel
    size, which differs from the affine's column norms only for sheared grids).
    """
    shape3 = tuple(int(n) for n in shape)
    affine = np.asarray(affine, dtype=np.float64)
    ornt = io_orientation(affine)
    axes = ornt[:, 0].astype(int)
    canon_shape = [0, 0, 0]
    canon_spacing = [0.0, 0.0, 0.0]
    for src, dst in enumerate(axes):
        canon_shape[dst] = shape3[src]
        canon_spacing[dst] = float(spacing[src])
    canon_affine = affine @ inv_ornt_aff(ornt, shape3)
    return Grid(tuple(canon_shape), canon_affine, tuple(canon_spacing), shape3, affine,
                tuple(float(s) for s in spacing), nominal)


def reorient_to_canonical(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Reorder the first three axes of `data` (file order) to the closest canonical order."""
    return apply_orientation(data, io_orientation(np.asarray(affine, dtype=np.float64)))
