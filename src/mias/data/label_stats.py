"""Per-structure size of a segmentation mask: what a volume-estimation task predicts.

Sizes are physical (millilitres for 3D, cm² for 2D) from the original spacing, so they can
be compared across scans of different resolution and grouped by age and sex.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

BACKGROUND_NAMES = ("background", "bg", "clear label")


def structure_names(label_names: Sequence[str]) -> list[str]:
    """Names of the foreground structures, label value 1 first (background dropped)."""
    names = list(label_names)
    if names and names[0].strip().lower() in BACKGROUND_NAMES:
        names = names[1:]
    return names


def label_statistics(
    label: np.ndarray, spacing: Sequence[float], label_names: Sequence[str]
) -> dict[str, Any]:
    """Voxel count, physical size and fraction of each structure and of the foreground.

    `label_names` may start with "background" (value 0) or list the structures only; the
    structure at position k has value k + 1. Values present but unnamed are listed, not
    silently merged.
    """
    label = np.asarray(label)
    if label.ndim != len(spacing):
        raise ValueError(f"label has {label.ndim} axes but spacing has {len(spacing)}")
    is_3d = label.ndim == 3
    size_key, scale = ("volume_ml", 1e-3) if is_3d else ("area_cm2", 1e-2)
    unit = math.prod(float(s) for s in spacing) * scale
    found = _value_counts(label)
    total = int(label.size)
    names = structure_names(label_names)
    structures = {}
    for value, name in enumerate(names, start=1):
        voxels = found.get(value, 0)
        structures[name] = {
            "label": value,
            "voxels": voxels,
            size_key: voxels * unit,
            "fraction": voxels / total if total else 0.0,
        }
    foreground = sum(c for v, c in found.items() if v > 0)
    return {
        "size_key": size_key,
        "spacing": [float(s) for s in spacing],
        "total_voxels": total,
        "foreground_voxels": foreground,
        f"foreground_{size_key}": foreground * unit,
        "foreground_fraction": foreground / total if total else 0.0,
        "structures": structures,
        "unnamed_labels": sorted(v for v in found if v > len(names)),
    }


def _value_counts(label: np.ndarray) -> dict[int, int]:
    """Voxels per label value; a bincount for the usual small non-negative integer masks."""
    if np.issubdtype(label.dtype, np.integer) and label.size and label.min() >= 0:
        counts = np.bincount(label.ravel())
        return {int(v): int(c) for v, c in enumerate(counts) if c}
    values, counts = np.unique(label, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
