"""Undo the recorded preprocessing: from the network's space back to the scan's grid.

`prepare` records per case what it did (`manifest.json` → `cases[i].preprocessing`):
canonical view (radiographs), resampling (`from_shape` → `to_shape`), crop/pad (start,
stop, pad widths). Going back is the reverse chain — unpad, put the crop back in the
resampled grid, resample to the canonical original shape — and, for writing a file, the
reorientation from canonical RAS to the file's own axis order (nibabel). Probabilities are
resampled (linear) before the arg-max, as nnU-Net does, so small structures survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from monai.transforms import Resize
from monai.utils import convert_to_numpy
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

from mias.data.transforms import apply_view_ops

CANONICAL = ("R", "A", "S")


def unpad(array: np.ndarray, pre: Mapping[str, Any]) -> np.ndarray:
    """Remove the recorded padding of the spatial axes (the leading axes are kept)."""
    pads = pre["crop_or_pad"]["pad"]
    lead = array.ndim - len(pads)
    box = tuple(slice(b, array.shape[lead + i] - a) for i, (b, a) in enumerate(pads))
    return array[(*[slice(None)] * lead, *box)]


def uncrop(array: np.ndarray, pre: Mapping[str, Any], fill: float = 0.0) -> np.ndarray:
    """The prepared-space array (C, *input_shape) put back into the resampled grid; the
    voxels that were cropped away get `fill` (background)."""
    cp = pre["crop_or_pad"]
    inner = unpad(array, pre)
    out = np.full((array.shape[0], *cp["in_shape"]), fill, dtype=array.dtype)
    box = tuple(slice(a, b) for a, b in zip(cp["crop_start"], cp["crop_stop"], strict=True))
    out[(slice(None), *box)] = inner
    return out


def from_resampled(probs: np.ndarray, pre: Mapping[str, Any]) -> np.ndarray:
    """Class probabilities (K, *resampled) → labels on the canonical original grid."""
    rs = pre["resample"]
    if tuple(probs.shape[1:]) != tuple(rs["from_shape"]):
        mode = "trilinear" if len(rs["from_shape"]) == 3 else "bilinear"
        probs = np.asarray(convert_to_numpy(Resize(rs["from_shape"], mode=mode)(probs)),
                           dtype=np.float32)
    labels = probs.argmax(0).astype(np.uint8)
    ops = (pre.get("view") or {}).get("ops") or []
    if ops:
        _, labels = apply_view_ops(probs[:1], labels, list(reversed(ops)))
    return labels


def invert_prediction(probs: np.ndarray, pre: Mapping[str, Any]) -> np.ndarray:
    """Prepared-space probabilities (K, *input_shape) → labels on the canonical original
    grid (background where the crop had cut the scan)."""
    full = uncrop(probs, pre)
    outside = full.sum(0, keepdims=True) == 0
    full[:1][outside] = 1.0
    return from_resampled(full, pre)


def to_file_orientation(canonical: np.ndarray, source_affine: np.ndarray) -> np.ndarray:
    """A canonical-RAS volume back in the axis order of the file it came from."""
    transform = ornt_transform(axcodes2ornt(CANONICAL), io_orientation(source_affine))
    return apply_orientation(canonical, transform)
