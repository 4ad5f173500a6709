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


def _frames(path: Path, ds: Dataset) -> np.ndarray:
    """All frames of a file as float64 [frames, rows, cols], Modality LUT applied."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise InputError(path, "a colour image (SamplesPerPixel > 1)",
                         "convert it to greyscale; MIAS reads greyscale medical images")
    try:
        pixels: Any = ds.pixel_array
    except (ValueError, AttributeError, NotImplementedError, RuntimeError, OSError) as exc:
        raise InputError(path, f"pixel data cannot be decoded ({exc})",
                         "re-export the file uncompressed, or install the decoder plugin "
                         "pydicom asks for") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = np.asarray(pixels).reshape(frames, int(ds.Rows), int(ds.Columns))
    if "PerFrameFunctionalGroupsSequence" in ds:
        return pixels.astype(np.float64)
    return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
