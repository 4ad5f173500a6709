"""Decode a DICOM series' planes into one float32 volume in file voxel order.

The Modality LUT (RescaleSlope/Intercept, or a LUT sequence) turns stored values into
physical ones (e.g. Hounsfield units); Enhanced multi-frame files carry it per frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from mias.data.readers.dicom_geometry import SeriesGeometry
from mias.data.readers.dicom_series import read_dicom
from mias.data.readers.dicom_skips import UNDECODABLE, BrokenFile, header_int, series_uid
from mias.errors import InputError


def read_volume(geometry: SeriesGeometry, datasets: dict[Path, Dataset]) -> np.ndarray:
    """Decode, rescale and stack the planes into float32 (columns, rows, slices).

    MONOCHROME1 images (bright = low values, common in CR) are inverted so that every
    image reads "higher = brighter".
    """
    decoded: dict[Path, np.ndarray] = {}
    planes = []
    for plane in geometry.planes:
        ds = datasets[plane.path]
        if plane.path not in decoded:
            decoded[plane.path] = _frames(plane.path, ds)
        pixels = decoded[plane.path][plane.frame]
        if plane.rescale is not None:
            pixels = pixels * plane.rescale[0] + plane.rescale[1]
        planes.append(pixels)
    volume = np.stack(planes, axis=-1).transpose(1, 0, 2)
    first = datasets[geometry.planes[0].path]
    if str(first.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        volume = np.nanmax(volume) + np.nanmin(volume) - volume
    return volume.astype(np.float32)


def check_decodable(path: Path) -> None:
    """Decode a file's pixels once and drop them: `BrokenFile` if they cannot be decoded.

    Only `--skip-broken` pays for this at discovery, so that such a file is left out
    before planning rather than failing the run hours into preprocessing.
    """
    _frames(path, read_dicom(path, pixels=True))


def _frames(path: Path, ds: Dataset) -> np.ndarray:
    """All frames of a file as float64 [frames, rows, cols], Modality LUT applied.

    Any error of a decoder plugin (each raises its own kinds), or of the Modality LUT on a
    malformed header, means the file is broken.
    """
    if header_int(path, ds, "SamplesPerPixel", 1) != 1:
        raise InputError(path, "a colour image (SamplesPerPixel > 1)",
                         "convert it to greyscale; MIAS reads greyscale medical images")
    shape = (header_int(path, ds, "NumberOfFrames", 1, 1), header_int(path, ds, "Rows", None, 1),
             header_int(path, ds, "Columns", None, 1))
    try:
        pixels: Any = np.asarray(ds.pixel_array).reshape(shape)
        if "PerFrameFunctionalGroupsSequence" not in ds:
            pixels = apply_modality_lut(pixels, ds)
    except Exception as exc:
        raise BrokenFile(path, f"pixel data cannot be decoded ({exc})", UNDECODABLE,
                         "re-export the file (uncompressed if it is compressed)",
                         series_uid(ds)) from exc
    return np.asarray(pixels, dtype=np.float64)
