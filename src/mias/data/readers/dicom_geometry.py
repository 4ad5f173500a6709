"""One DICOM series → one voxel grid: slice order, spacing and the LPS → RAS affine.

Geometry follows DICOM PS3.3 C.7.6.2: voxel (column i, row j, slice k) sits at
`IPP + i·Δc·row_cosine + j·Δr·column_cosine + k·slice_step` in LPS millimetres, with
PixelSpacing = (Δr, Δc). Slices are ordered by their position projected on the slice
normal (file names and InstanceNumber are not reliable), and the LPS → RAS flip gives the
affine a NIfTI mask on the same grid carries (what dcm2niix writes, up to axis flips).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from mias.data.imputation import (
    ORIENTATION_NOMINAL,
    SPACING_FROM_IMAGER,
    SPACING_FROM_POSITIONS,
    SPACING_FROM_THICKNESS,
    SPACING_NOMINAL,
)
from mias.data.readers.dicom_series import RADIOGRAPHY, Series
from mias.data.readers.dicom_skips import MALFORMED, BrokenFile, NoGeometry, header_int, series_uid
from mias.data.readers.grid import Grid, canonical_grid
from mias.errors import InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORIENTATION_ATOL = 1e-4
_NOMINAL_ORIENTATION = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Plane:
    """One 2D image of a series: a file, and its frame index in a multi-frame file.

    `rescale` is the frame's (slope, intercept) from functional groups, or `None` when
    the file's own Modality LUT / RescaleSlope/Intercept applies.
    """

    path: Path
    frame: int = 0
    rescale: tuple[float, float] | None = None


@dataclass(frozen=True)
class SeriesGeometry:
    """The series' voxel grid and its planes in slice order, plus what was imputed."""

    grid: Grid
    planes: tuple[Plane, ...]
    slice_spacing: float | None
    slice_thickness: float | None
    imputed: dict[str, str]


def series_geometry(series: Series) -> SeriesGeometry:
    """The voxel grid of a series: a stack of files, a multi-frame file, or one image.

    `NoGeometry` says the series cannot form a case at all (it is skipped); other errors
    describe a usable series that is inconsistent, for the user to fix.
    """
    if len(series.files) == 1:
        path, ds = series.files[0]
        if "PerFrameFunctionalGroupsSequence" in ds:
            return _enhanced(path, ds)
        if _frames(path, ds) > 1:
            return _multiframe(path, ds)
        return _single(path, ds)
    if series.modality in RADIOGRAPHY:
        raise InputError(series.folder, f"one {series.modality} series holds "
                                        f"{len(series.files)} radiographs",
                         "put each radiograph in its own case folder")
    for path, ds in series.files:
        if _frames(path, ds) > 1:
            raise InputError(path, "a multi-frame file inside a multi-file series",
                             "convert the series to NIfTI (e.g. dcm2niix) and use that")
    return _stack(series)


def _frames(path: Path, ds: Dataset) -> int:
    return header_int(path, ds, "NumberOfFrames", 1, 1)


def _size(path: Path, ds: Dataset) -> tuple[int, int]:
    """(Columns, Rows): the in-plane voxel counts, i first."""
    return header_int(path, ds, "Columns", minimum=1), header_int(path, ds, "Rows", minimum=1)


def _float_list(ds: Dataset | None, keyword: str) -> list[float] | None:
    value = None if ds is None else ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        return [float(v) for v in (value if isinstance(value, MultiValue | list | tuple)
                                   else [value])]
    except (TypeError, ValueError):
        return None


def _float(ds: Dataset | None, keyword: str) -> float | None:
    values = _float_list(ds, keyword)
    return values[0] if values else None


def _group(frame: Dataset | None, shared: Dataset | None, sequence: str) -> Dataset | None:
    """A functional-group macro item: per-frame first, else shared (PS3.3 C.7.6.16)."""
    for holder in (frame, shared):
        if holder is not None and sequence in holder and len(holder[sequence].value):
            return holder[sequence].value[0]
    return None


def _pixel_spacing(path: Path, ds: Dataset, measures: Dataset | None = None,
                   ) -> tuple[tuple[float, float], dict[str, str]]:
    """(Δr, Δc) in mm, with the rule used when PixelSpacing is absent."""
    for source, rule in ((measures, None), (ds, None), (ds, SPACING_FROM_IMAGER)):
        keyword = "ImagerPixelSpacing" if rule else "PixelSpacing"
        values = _float_list(source, keyword)
        if values and len(values) == 2:
            if min(values) <= 0:
                raise BrokenFile(path, f"{keyword} {values} is not positive", MALFORMED,
                                 "fix the header", series_uid(ds))
            return (values[0], values[1]), ({"spacing": rule} if rule else {})
    return (1.0, 1.0), {"spacing": SPACING_NOMINAL}


def _orientation(path: Path, ds: Dataset | None) -> np.ndarray | None:
    values = _float_list(ds, "ImageOrientationPatient")
    if values is None:
        return None
    iop = np.asarray(values, dtype=np.float64)
    if iop.shape != (6,) or not np.isclose(np.linalg.norm(iop[:3]), 1, atol=1e-2) \
            or not np.isclose(np.linalg.norm(iop[3:]), 1, atol=1e-2):
        raise BrokenFile(path, f"ImageOrientationPatient {values} is not two unit vectors",
                         MALFORMED, "fix the header or re-export the series")
    return iop


def _affine(iop: np.ndarray, delta: tuple[float, float], step: np.ndarray,
            origin: np.ndarray) -> np.ndarray:
    """Voxel (i=column, j=row, k=slice) → RAS mm."""
    d_row, d_col = delta
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * d_col
    lps[:3, 1] = iop[3:] * d_row
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def _normal(iop: np.ndarray) -> np.ndarray:
    normal = np.cross(iop[:3], iop[3:])
    return normal / np.linalg.norm(normal)


def _single(path: Path, ds: Dataset) -> SeriesGeometry:
    """One 2D image: a radiograph (nominal geometry without IOP) or a single slice."""
    delta, imputed = _pixel_spacing(path, ds)
    iop = _orientation(path, ds)
    position = _float_list(ds, "ImagePositionPatient")
    nominal = iop is None or position is None
    if nominal:
        iop, origin = _NOMINAL_ORIENTATION, np.zeros(3)
        imputed["orientation"] = ORIENTATION_NOMINAL
    else:
        origin = np.asarray(position, dtype=np.float64)
    thickness = _float(ds, "SliceThickness")
    depth = thickness if thickness and thickness > 0 else 1.0
    affine = _affine(iop, delta, _normal(iop) * depth, origin)
    shape = (*_size(path, ds), 1)
    grid = canonical_grid(shape, affine, (delta[1], delta[0], depth), nominal=nominal)
    return SeriesGeometry(grid, (Plane(path),), None, thickness, imputed)


def _multiframe(path: Path, ds: Dataset) -> SeriesGeometry:
    """A classic multi-frame file: frames evenly spaced along the normal from IPP."""
    iop = _orientation(path, ds)
    position = _float_list(ds, "ImagePositionPatient")
    if iop is None or position is None:
        raise NoGeometry(path, "multi-frame image without ImageOrientationPatient/"
                               "ImagePositionPatient (a cine or angiography run?) is not a "
                               "volume", "export the volume as an Enhanced or per-slice "
                                         "series, or convert it to NIfTI")
    delta, imputed = _pixel_spacing(path, ds)
    thickness = _float(ds, "SliceThickness")
    spacing = _float(ds, "SpacingBetweenSlices")
    if not spacing:
        if not thickness:
            raise NoGeometry(path, "multi-frame image without SpacingBetweenSlices or "
                                   "SliceThickness: the slice spacing is unknown",
                             "convert it to NIfTI with the correct voxel size")
        spacing = thickness
        imputed["spacing"] = SPACING_FROM_THICKNESS
    frames = _frames(path, ds)
    affine = _affine(iop, delta, _normal(iop) * spacing, np.asarray(position))
    spacing = abs(spacing)
    grid = canonical_grid((*_size(path, ds), frames), affine,
                          (delta[1], delta[0], spacing))
    planes = tuple(Plane(path, f) for f in range(frames))
    return SeriesGeometry(grid, planes, spacing, thickness, imputed)


def _enhanced(path: Path, ds: Dataset) -> SeriesGeometry:
    """An Enhanced multi-frame file: per-frame positions in functional groups."""
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    frames = list(ds.PerFrameFunctionalGroupsSequence)
    planes, positions, orientations = [], [], []
    for index, frame in enumerate(frames):
        orientations.append(_orientation(path, _group(frame, shared, "PlaneOrientationSequence")))
        positions.append(_float_list(_group(frame, shared, "PlanePositionSequence"),
                                     "ImagePositionPatient"))
        transform = _group(frame, shared, "PixelValueTransformationSequence") or ds
        slope, intercept = _float(transform, "RescaleSlope"), _float(transform, "RescaleIntercept")
        rescale = None if slope is None else (slope, intercept or 0.0)
        planes.append(Plane(path, index, rescale))
    measures = _group(frames[0] if frames else None, shared, "PixelMeasuresSequence")
    if any(o is None for o in orientations) or any(p is None for p in positions):
        raise NoGeometry(path, "Enhanced multi-frame image without plane orientation/position "
                               "for every frame", "re-export the series or convert it to NIfTI")
    delta, imputed = _pixel_spacing(path, ds, measures)
    declared = (_float(measures, "SpacingBetweenSlices"), _float(measures, "SliceThickness"))
    return _from_positions(path, ds, planes, np.asarray(positions), orientations, delta,
                           declared, imputed)


def _stack(series: Series) -> SeriesGeometry:
    """A multi-file series, one 2D image per file."""
    ref_path, ref = series.files[0]
    for path, ds in series.files:
        if _size(path, ds) != _size(ref_path, ref):
            raise InputError(path, f"image size {ds.Rows}x{ds.Columns} differs from "
                                   f"{ref_path.name} ({ref.Rows}x{ref.Columns}) in one series",
                             "remove the odd image (a localizer?) from the series folder")
    orientations = [_orientation(path, ds) for path, ds in series.files]
    positions = [_float_list(ds, "ImagePositionPatient") for _, ds in series.files]
    missing = [path for (path, _), o, p in zip(series.files, orientations, positions,
                                               strict=True) if o is None or p is None]
    if missing:
        error = NoGeometry if len(missing) == len(series.files) else InputError
        raise error(missing[0], "no ImageOrientationPatient/ImagePositionPatient: the "
                                "slices cannot be stacked", "re-export the series with its "
                                                            "geometry")
    delta, imputed = _pixel_spacing(ref_path, ref)
    for path, ds in series.files:
        if _pixel_spacing(path, ds)[0] != delta:
            raise InputError(path, "pixel spacing differs from the rest of the series",
                             "remove the odd image from the series folder")
    declared = (_float(ref, "SpacingBetweenSlices"), _float(ref, "SliceThickness"))
    planes = [Plane(path) for path, _ in series.files]
    return _from_positions(series.folder, ref, planes, np.asarray(positions), orientations,
                           delta, declared, imputed)


def _from_positions(where: Path, ds: Dataset, planes: list[Plane], positions: np.ndarray,
                    orientations: list[np.ndarray], delta: tuple[float, float],
                    declared: tuple[float | None, float | None],
                    imputed: dict[str, str]) -> SeriesGeometry:
    """Sort planes along the slice normal, check even spacing, build the affine."""
    iop = orientations[0]
    if any(not np.allclose(o, iop, atol=_ORIENTATION_ATOL) for o in orientations):
        raise InputError(where, "the slice orientation changes within the series",
                         "split the series (a localizer or a multi-plane acquisition?)")
    if len(planes) == 1:
        raise NoGeometry(where, "a volume needs at least two slices",
                         "export the complete series")
    projected = positions @ _normal(iop)
    order = np.argsort(projected, kind="stable")
    gaps = np.diff(projected[order])
    if gaps.min() < 1e-3:
        raise InputError(where, "several images share one slice position (multi-echo, "
                                "multi-phase or repeated acquisition)",
                         "split each echo/phase into its own series")
    spacing = round(float(np.median(gaps)), 6)   # positions are decimal strings: drop float noise
    if np.abs(gaps - spacing).max() > 0.01 * spacing + 0.01:
        raise InputError(where, f"slice positions are unevenly spaced (gaps "
                                f"{gaps.min():.3g}–{gaps.max():.3g} mm): slices are missing",
                         "export the complete series")
    first, last = positions[order[0]], positions[order[-1]]
    step = (last - first) / (len(planes) - 1)
    spacing_read, thickness = declared
    stated = spacing_read if spacing_read else thickness
    if stated is None or abs(stated - spacing) > 0.01 * spacing + 0.01:
        imputed = {**imputed, "spacing": SPACING_FROM_POSITIONS}
    affine = _affine(iop, delta, step, first)
    shape = (*_size(where, ds), len(planes))
    grid = canonical_grid(shape, affine, (delta[1], delta[0], spacing))
    ordered = tuple(planes[i] for i in order)
    return SeriesGeometry(grid, ordered, spacing, thickness, imputed)
