"""NIfTI files (nibabel): header facts and canonical RAS decoding.

Spacing is the header's voxel size in mm (xyzt_units respected: micron and meter are
converted, unknown is assumed mm and flagged). A 4D file holds channels on its last axis
(the MSD convention); a file with one spatial axis of size 1 is a 2D image.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener

from mias.data.imputation import SPACING_PIXDIM_ZERO, SPACING_UNITS_ASSUMED
from mias.data.readers.grid import Grid, canonical_grid, reorient_to_canonical
from mias.data.readers.source import ScannedCase, blank_attributes
from mias.errors import InputError

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_UNIT_TO_MM = {"mm": 1.0, "micron": 1e-3, "meter": 1e3, "unknown": 1.0}
_READ_ERRORS = (ImageFileError, OSError, EOFError, ValueError, zlib.error)
# Voxels (all channels) mias decodes from one file: 2 GiB as float32, e.g. a 512×512×2048
# CT. A header promising more is refused before any voxel is read.
MAX_FILE_VOXELS = 2**29
# DEFLATE cannot compress better than about 1032:1, so a .nii.gz of n bytes holds at most
# that many times n bytes of voxels: a header promising more describes a truncated file.
_MAX_DEFLATE_RATIO = 1032


@dataclass(frozen=True)
class NiftiInfo:
    """What the header says: canonical grid (mm), channel count, imputation flags."""

    path: Path
    grid: Grid
    channels: int
    imputed: dict[str, str]

    @property
    def slice_spacing(self) -> float | None:
        """Spacing of the file's third axis (the acquisition's slice axis by convention)."""
        return None if self.grid.flat_axis is not None else self.grid.source_spacing[2]


def is_nifti(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.endswith(
        NIFTI_SUFFIXES)


def nifti_stem(path: Path) -> str:
    """The case key of a NIfTI file: its name without `.nii.gz` / `.nii`."""
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def _open(path: Path) -> nib.Nifti1Image:
    if not path.is_file():
        raise InputError(path, "file not found", "restore the file or fix the dataset layout")
    try:
        img = nib.load(str(path))
    except _READ_ERRORS as exc:
        raise InputError(path, f"not a readable NIfTI file ({exc})",
                         "re-export it as .nii or .nii.gz") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(path, f"not a NIfTI image ({type(img).__name__})",
                         "convert it to .nii.gz")
    return img


def _stated_pixdim(img: nib.Nifti1Image, path: Path) -> np.ndarray:
    """The voxel size the file states: nibabel's loaded header has already replaced a zero
    pixdim by 1 mm, so the header is read again without its checks."""
    try:
        with ImageOpener(str(path)) as f:
            header = type(img.header).from_fileobj(f, check=False)
    except _READ_ERRORS:
        return np.asarray(img.header.get_zooms()[:3], dtype=np.float64)
    return np.asarray(header["pixdim"][1:4], dtype=np.float64)


def _units(img: nib.Nifti1Image) -> tuple[float, dict[str, str]]:
    unit = img.header.get_xyzt_units()[0]
    imputed = {"spacing": SPACING_UNITS_ASSUMED} if unit == "unknown" else {}
    return _UNIT_TO_MM[unit], imputed


def read_info(path: Path) -> NiftiInfo:
    """Header-only facts of a NIfTI file; a malformed header raises `InputError`."""
    img = _open(path)
    return _info(img, path)


def _info(img: nib.Nifti1Image, path: Path) -> NiftiInfo:
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (2, 3, 4):
        raise InputError(path, f"has {len(shape)} dimensions {shape}",
                         "store 2D/3D images, with channels (if any) on the 4th axis")
    _check_data_size(img, path, shape)
    channels = shape[3] if len(shape) == 4 else 1
    shape3 = (*shape[:3], 1, 1)[:3]
    factor, imputed = _units(img)
    if np.any(_stated_pixdim(img, path)[: min(len(shape), 3)] == 0):
        imputed = {"spacing": SPACING_PIXDIM_ZERO}
    zooms = (*img.header.get_zooms()[: min(len(shape), 3)], 1.0, 1.0)[:3]
    spacing = tuple(abs(float(z)) * factor for z in zooms)
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InputError(path, f"voxel size {spacing} is not positive",
                         "fix pixdim in the header (e.g. with nibabel or fslhd/fslorient)")
    affine = img.affine.astype(np.float64).copy()
    affine[:3, :] *= factor
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputError(path, "the header's affine (sform/qform) is singular",
                         "fix the orientation in the header")
    grid = canonical_grid(shape3, affine, spacing)
    if sum(n == 1 for n in grid.shape) > 1:
        raise InputError(path, f"shape {shape} is not a 2D or 3D image",
                         "remove the file or store a proper image")
    return NiftiInfo(path, grid, channels, imputed)


def _check_data_size(img: nib.Nifti1Image, path: Path, shape: tuple[int, ...]) -> None:
    """The file can hold the voxels its header promises, and they are few enough to decode."""
    voxels = math.prod(shape)
    if voxels > MAX_FILE_VOXELS:
        raise InputError(path, f"the header promises {voxels:,} voxels {shape}, more than "
                               f"the {MAX_FILE_VOXELS:,} mias decodes from one image",
                         "crop or down-sample the image before preparing it, or fix the "
                         "header's dim field if the image is not that large")
    promised = voxels * img.header.get_data_dtype().itemsize
    offset = int(img.header.get_data_offset())
    size = path.stat().st_size
    compressed = path.name.endswith(".gz")
    capacity = size * _MAX_DEFLATE_RATIO if compressed else size - offset
    if promised > capacity:
        holds = (f"a {size:,}-byte compressed file holds at most {capacity:,} bytes"
                 if compressed else f"the file holds {max(capacity, 0):,} bytes of voxel data")
        raise InputError(path, f"the header promises {promised:,} bytes of voxels {shape} but "
                               f"{holds}: the file is truncated or its header is wrong",
                         "re-export or re-download the file")


def load_image(path: Path) -> tuple[np.ndarray, NiftiInfo]:
    """Decode to float32 [C, X, Y, Z] in canonical RAS (channels moved to the front)."""
    img = _open(path)
    info = _info(img, path)
    try:
        if img.ndim == 2:
            img = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., None], img.affine, img.header)
        data = nib.as_closest_canonical(img).get_fdata(dtype=np.float32)
    except _READ_ERRORS as exc:
        raise InputError(path, f"voxel data cannot be read ({exc}): truncated or corrupt",
                         "re-export or re-download the file") from exc
    data = data[..., None] if data.ndim == 3 else data
    return np.moveaxis(data, -1, 0), info


def load_mask(path: Path, *, affine: np.ndarray | None = None) -> tuple[np.ndarray, NiftiInfo]:
    """Decode a label mask in canonical RAS [X, Y, Z], keeping its stored values.

    `affine` reorients by the image's affine instead of the mask's own: for images without
    patient geometry, whose masks are matched voxel for voxel in file order.
    """
    img = _open(path)
    info = _info(img, path)
    if info.channels != 1:
        raise InputError(path, f"a label mask must have one channel, it has {info.channels}",
                         "store one integer label map per case")
    try:
        data = np.asanyarray(img.dataobj).reshape(info.grid.source_shape)
    except _READ_ERRORS as exc:
        raise InputError(path, f"voxel data cannot be read ({exc}): truncated or corrupt",
                         "re-export or re-download the file") from exc
    reference = info.grid.source_affine if affine is None else affine
    return reorient_to_canonical(data, reference), info


def channel_names_for(count: int) -> tuple[str, ...]:
    return ("image",) if count == 1 else tuple(f"channel{i}" for i in range(count))


def nifti_case(root: Path, key: str, paths: tuple[Path, ...], channel_names: tuple[str, ...],
               modality: str, modality_rule: str) -> ScannedCase:
    """A case draft from its channel files (one multi-channel file, or one file per channel).

    Channel files must share one grid; the channel count must match `channel_names`.
    """
    infos = [read_info(p) for p in paths]
    first = infos[0]
    for info in infos[1:]:
        if not info.grid.matches(first.grid):
            raise InputError(info.path, f"channel grid ({info.grid.describe()}) differs from "
                                        f"{first.path.name} ({first.grid.describe()})",
                             "resample all channels of a case onto one grid")
    channels = sum(i.channels for i in infos)
    if channels != len(channel_names):
        raise InputError(first.path, f"case {key!r} has {channels} channel(s), the dataset "
                                     f"declares {len(channel_names)} {channel_names}",
                         "store every channel of the case, or fix the channel list")
    imputed = {"modality": modality_rule} if modality_rule else {}
    for info in infos:
        imputed.update(info.imputed)
    return ScannedCase(
        key=key, image_paths=paths,
        image_files=tuple(Path(os.path.relpath(p, root)).as_posix() for p in paths),
        modality=modality, shape=first.grid.spatial_shape, spacing=first.grid.spatial_spacing,
        grid=first.grid, channel_names=channel_names,
        attributes=blank_attributes(slice_spacing=first.slice_spacing), imputed=imputed)
