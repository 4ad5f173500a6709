"""The attribute ranges the training data covered, and the warnings a new scan earns.

Outside these ranges (ages, sexes, scanners, field strengths, spacings, image sizes,
intensities) the model's performance is not established, so `mias predict` says so per
case. Ranges are aggregates over the training split; a warning about a demographic
attribute states the range, never the patient's own value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mias.records import CaseRecord

CATEGORIES = ("sex", "modality", "manufacturer", "manufacturer_model")
NUMERIC_ATTRIBUTES = ("field_strength",)


def _span(values: Iterable[float | None]) -> list[float] | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return [min(vals), max(vals)] if vals else None


def _category(record: CaseRecord, name: str) -> str | None:
    if name in ("sex", "modality"):
        value = getattr(record, name)
        return None if value in (None, "unknown") else str(value)
    value = record.attributes.get(name)
    return None if value in (None, "") else str(value)


def attribute_ranges(records: Sequence[CaseRecord],
                     intensity_means: Sequence[Sequence[float]] = ()) -> dict[str, Any]:
    """Ranges over `records` (the training cases); `intensity_means` per case and channel
    are the raw-intensity means `prepare` normalised with (empty for CT)."""
    out: dict[str, Any] = {"n_cases": len(records), "covered_by": "training split"}
    age = _span(r.age for r in records)
    if age:
        out["age"] = age
    for name in CATEGORIES:
        seen = sorted({c for r in records if (c := _category(r, name)) is not None})
        if seen:
            out[name] = seen
    for name in NUMERIC_ATTRIBUTES:
        span = _span(r.attributes.get(name) for r in records)
        if span:
            out[name] = span
    spacing = np.array([r.spacing for r in records], dtype=float)
    shape = np.array([r.shape for r in records], dtype=float)
    out["spacing"] = [spacing.min(0).tolist(), spacing.max(0).tolist()]
    out["shape"] = [shape.min(0).astype(int).tolist(), shape.max(0).astype(int).tolist()]
    if intensity_means:
        means = np.array(intensity_means, dtype=float)
        out["intensity_mean"] = [means.min(0).tolist(), means.max(0).tolist()]
    return out


def _outside(value: float, low: float, high: float, tolerance: float) -> bool:
    slack = tolerance * max(abs(low), abs(high), 1e-9)
    return value < low - slack or value > high + slack


def _axes(name: str, values: Sequence[float], bounds: Sequence[Sequence[float]],
          unit: str, tolerance: float) -> list[str]:
    low, high = bounds
    if len(values) != len(low):
        return []
    odd = [i for i, v in enumerate(values) if _outside(v, low[i], high[i], tolerance)]
    if not odd:
        return []
    fmt = ", ".join(f"{v:g}" for v in values)
    span = ", ".join(f"{a:g}–{b:g}" for a, b in zip(low, high, strict=True))
    return [f"{name} ({fmt}){unit} is outside the training range ({span}){unit} on "
            f"axis {', '.join(map(str, odd))}"]


def range_warnings(ranges: Mapping[str, Any], record: CaseRecord,
                   intensity_mean: Sequence[float] | None = None, *,
                   tolerance: float = 0.01) -> list[str]:
    """Why this scan falls outside what the model was trained on (empty when it does not)."""
    out: list[str] = []
    if "age" in ranges and record.age is not None:
        low, high = ranges["age"]
        if _outside(record.age, low, high, 0.0):
            out.append(f"age outside the training range ({low:g}–{high:g} years)")
    for name in CATEGORIES:
        value = _category(record, name)
        if name in ranges and value is not None and value not in ranges[name]:
            shown = "sex" if name == "sex" else f"{name} {value!r}"
            out.append(f"{shown} not among the training data's ({', '.join(ranges[name])})")
    for name in NUMERIC_ATTRIBUTES:
        value = record.attributes.get(name)
        if name in ranges and value is not None:
            low, high = ranges[name]
            if _outside(float(value), low, high, tolerance):
                out.append(f"{name} {float(value):g} outside the training range "
                           f"({low:g}–{high:g})")
    if "spacing" in ranges:
        out += _axes("spacing", record.spacing, ranges["spacing"], " mm", tolerance)
    if "shape" in ranges:
        out += _axes("image size", record.shape, ranges["shape"], "", 0.0)
    if "intensity_mean" in ranges and intensity_mean is not None:
        out += _axes("mean intensity", list(intensity_mean),
                     ranges["intensity_mean"], "", 0.05)
    return out


def channel_means(image: np.ndarray, *, nonzero: bool) -> list[float]:
    """Per-channel mean raw intensity (over non-zero voxels for MRI), as `prepare` records."""
    out = []
    for channel in image:
        values = channel[channel != 0] if nonzero else channel.ravel()
        out.append(float(values.mean(dtype=np.float64)) if values.size else 0.0)
    return out
