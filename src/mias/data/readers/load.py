"""`load_case`: decode one case into canonical-RAS arrays, the only place voxels are read.

Non-finite voxels (NaN/inf from a failed reconstruction or a float export) are replaced by
the channel's minimum finite value — the background, the least surprising fill for every
intensity normalisation — and counted, so the record can say how many were imputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mias.data.readers.dicom import image_series
from mias.data.readers.dicom_geometry import series_geometry
from mias.data.readers.dicom_pixels import read_volume
from mias.data.readers.dicom_series import read_dicom
from mias.data.readers.grid import Grid, reorient_to_canonical
from mias.data.readers.labels import check_label_values, integer_labels
from mias.data.readers.nifti import load_image, load_mask
from mias.data.readers.source import LoadedCase, SourceCase
from mias.errors import InputError

_DECLARED_IN = {"msd": "dataset.json 'labels'", "nnunet": "dataset.json 'labels'"}


def load_case(case: SourceCase, label_names: Sequence[str]) -> LoadedCase:
    """Image float32 [C, *spatial] and mask [*spatial] in canonical RAS, with the affine."""
    record = case.record
    if record.source_format == "dicom":
        image, grid = _load_dicom(case.image_paths)
    else:
        image, grid = _load_nifti(case.image_paths)
    where = case.image_paths[0]
    if grid.spatial_shape != tuple(record.shape) or image.shape[0] != len(record.channel_names):
        raise InputError(where, f"the case changed since it was discovered (now "
                                f"{image.shape[0]} channel(s) of {grid.spatial_shape})",
                         "run `mias prepare` again")
    axis = grid.flat_axis
    if axis is not None:
        image = np.take(image, 0, axis=1 + axis)
    image, nonfinite = replace_nonfinite(image, where)
    label = None
    if case.label_path is not None:
        label = _load_label(case.label_path, grid, label_names,
                            _DECLARED_IN.get(record.source_format, "the masks' label values"))
    return LoadedCase(image=image, label=label, affine=grid.affine, nonfinite_voxels=nonfinite)


def replace_nonfinite(image: np.ndarray, where: Path) -> tuple[np.ndarray, int]:
    """Fill NaN/inf with each channel's minimum finite value; count them.

    A channel without a single finite voxel carries no information: `InputError`.
    """
    finite = np.isfinite(image)
    count = int(finite.size - np.count_nonzero(finite))
    if count == 0:
        return image, 0
    image = image.copy()
    for c in range(image.shape[0]):
        if not finite[c].any():
            raise InputError(where, f"channel {c} holds no finite voxel (all NaN or inf)",
                             "re-export the image from the scanner or the source software")
        image[c][~finite[c]] = image[c][finite[c]].min()
    return image, count


def _load_nifti(paths: Sequence[Path]) -> tuple[np.ndarray, Grid]:
    arrays, grid = [], None
    for path in paths:
        data, info = load_image(path)
        if grid is not None and not info.grid.matches(grid):
            raise InputError(path, f"channel grid ({info.grid.describe()}) differs from "
                                   f"{paths[0].name} ({grid.describe()})",
                             "resample all channels of a case onto one grid")
        grid = grid or info.grid
        arrays.append(data)
    return np.concatenate(arrays, axis=0), grid


def _load_dicom(paths: Sequence[Path]) -> tuple[np.ndarray, Grid]:
    datasets = [read_dicom(p, pixels=True) for p in paths]
    series = image_series(list(zip(paths, datasets, strict=True)))
    by_path = dict(zip(paths, datasets, strict=True))
    channels, grid = [], None
    for s in series:
        geometry = series_geometry(s)
        if grid is not None and not geometry.grid.matches(grid):
            raise InputError(s.folder, f"series {s.number} is not on the case's grid",
                             "resample the case's series onto one grid")
        grid = grid or geometry.grid
        volume = read_volume(geometry, by_path)
        channels.append(reorient_to_canonical(volume, geometry.grid.source_affine))
    return np.stack(channels), grid


def _load_label(path: Path, grid: Grid, label_names: Sequence[str],
                declared_in: str) -> np.ndarray:
    data, info = load_mask(path, affine=grid.source_affine if grid.nominal else None)
    if not info.grid.matches(grid):
        raise InputError(path, f"label grid ({info.grid.describe()}) does not match the image "
                               f"({grid.describe()})",
                         "write the mask on the image's grid (same shape and affine)")
    values = integer_labels(data, path)
    check_label_values(values, label_names, path, declared_in)
    axis = grid.flat_axis
    if axis is not None:
        values = np.take(values, 0, axis=axis)
    dtype = np.uint8 if len(label_names) <= 256 else np.int32
    return values.astype(dtype)
