"""Modality-aware preprocessing of one case, with every applied parameter recorded.

Arrays are numpy: image float32 `[C, *spatial]`, label integer `[*spatial]`. Resampling and
view changes are MONAI's (`Resize`, `Flip`, `Transpose`, `NormalizeIntensity` for CT); the
per-case z-score and the crop/pad are the same rules applied in numpy, because on
Decathlon-sized volumes MONAI's tensor round trip costs more than the arithmetic (tests
check them against MONAI). This module decides the parameters per modality and records
them, so a prediction can be mapped back onto the original scan and the preprocessing
reproduced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import (
    Flip,
    NormalizeIntensity,
    Resize,
    Transpose,
)
from monai.utils import convert_to_numpy
from scipy.ndimage import gaussian_filter

from mias.data.planning import PreprocessPlan
from mias.errors import InputError
from mias.registry import Registry

Normalizer = Callable[[np.ndarray, PreprocessPlan], tuple[np.ndarray, dict[str, Any]]]
NORMALIZERS: Registry[Normalizer] = Registry("normalization")

_AXIS_FAMILY = {"L": "LR", "R": "LR", "A": "AP", "P": "AP", "H": "HF", "F": "HF"}
_LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL"}
# Radiographs are read as if facing the patient, feet down: a frontal view's rows run toward
# the patient's left, a lateral view's toward the back (anterior on the viewer's left).
_CANONICAL = {"frontal": ("L", "F"), "lateral": ("P", "F")}


def register_normalizer(name: str) -> Callable[[Normalizer], Normalizer]:
    """Register an intensity rule under the name a `PreprocessPlan.normalization` uses."""
    return NORMALIZERS.register(name)


def create_normalizer(name: str) -> Normalizer:
    """The registered intensity rule `name` (see `mias.data.planning.NORMALIZATIONS`)."""
    return NORMALIZERS.get(name)


def _np(x: Any, dtype: Any = None) -> np.ndarray:
    return np.asarray(convert_to_numpy(x), dtype=dtype)


def _channel_zscore(image: np.ndarray, nonzero: bool) -> tuple[np.ndarray, list[float],
                                                                list[float]]:
    """Channel-wise z-score (on the non-zero mask if `nonzero`), statistics computed once.

    The same rule as MONAI's `NormalizeIntensity(nonzero=..., channel_wise=True)`, applied
    with the statistics already in hand: on small volumes the tensor round trip costs more
    than the arithmetic.
    """
    out = image.astype(np.float32, copy=True)
    means, stds = [], []
    for channel in out:
        mask = channel != 0 if nonzero else None
        values = channel[mask] if nonzero else channel
        mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
        std = float(values.std(dtype=np.float64)) if values.size else 1.0
        std = std if std > 0 else 1.0
        if nonzero:
            channel[mask] = (values - mean) / std
        else:
            channel -= mean
            channel /= std
        means.append(mean)
        stds.append(std)
    return out, means, stds


@register_normalizer("ct")
def _normalize_ct(image: np.ndarray, plan: PreprocessPlan) -> tuple[np.ndarray, dict[str, Any]]:
    if plan.ct_clip is None or plan.ct_mean is None or plan.ct_std is None:
        raise ValueError("the plan has no CT statistics; fit them with fit_ct_intensity first")
    lo, hi = plan.ct_clip
    clipped = np.clip(image, lo, hi).astype(np.float32)
    out = NormalizeIntensity(subtrahend=plan.ct_mean, divisor=plan.ct_std)(clipped)
    return _np(out, np.float32), {
        "method": "ct",
        "clip": [lo, hi],
        "mean": plan.ct_mean,
        "std": plan.ct_std,
    }


@register_normalizer("mri")
def _normalize_mri(image: np.ndarray, plan: PreprocessPlan) -> tuple[np.ndarray, dict[str, Any]]:
    out, means, stds = _channel_zscore(image, nonzero=True)
    return out, {"method": "mri", "nonzero": True, "mean": means, "std": stds}


@register_normalizer("xray")
@register_normalizer("zscore")
def _normalize_image(image: np.ndarray, plan: PreprocessPlan) -> tuple[np.ndarray, dict[str, Any]]:
    out, means, stds = _channel_zscore(image, nonzero=False)
    return out, {
        "method": plan.normalization,
        "nonzero": False,
        "mean": means,
        "std": stds,
    }


def normalize(image: np.ndarray, plan: PreprocessPlan) -> np.ndarray:
    """Apply the plan's intensity rule: CT clip + dataset z-score, MRI/X-ray per-case z-score."""
    return create_normalizer(plan.normalization)(image, plan)[0]


def resampled_shape(
    shape: Sequence[int], spacing: Sequence[float], target_spacing: Sequence[float]
) -> tuple[int, ...]:
    """The grid size that keeps the physical extent at the target spacing (nnU-Net's rule)."""
    return tuple(
        max(1, int(np.rint(n * s / t)))
        for n, s, t in zip(shape, spacing, target_spacing, strict=True)
    )


def antialias_sigma(shape: Sequence[int], new_shape: Sequence[int]) -> tuple[float, ...]:
    """Gaussian sigma (voxels) per axis before down-sampling by shape/new_shape (skimage)."""
    return tuple(max(0.0, (n / m - 1) / 2) for n, m in zip(shape, new_shape, strict=True))


def resample(
    image: np.ndarray,
    label: np.ndarray | None,
    spacing: Sequence[float],
    target_spacing: Sequence[float],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample to the target spacing: (bi/tri)linear for the image, nearest for the label.

    Down-sampled axes are smoothed first (edge-replicating, so borders keep their
    intensity) to avoid aliasing. A case already on the target grid is returned unchanged.
    """
    spatial = image.shape[1:]
    new_shape = resampled_shape(spatial, spacing, target_spacing)
    if new_shape == tuple(spatial):
        return image, label
    sigma = antialias_sigma(spatial, new_shape)
    image = image.astype(np.float32)
    if any(sigma):
        image = gaussian_filter(image, sigma=(0.0, *sigma), mode="nearest")
    mode = "trilinear" if len(spatial) == 3 else "bilinear"
    out = Resize(new_shape, mode=mode, anti_aliasing=False)(image)
    new_label = None
    if label is not None:
        resized = Resize(new_shape, mode="nearest-exact")(label[None].astype(np.float32))
        new_label = np.rint(_np(resized)[0]).astype(label.dtype)
    return _np(out, np.float32), new_label


def _parse_orientation(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    parts = (
        [str(p) for p in value]
        if isinstance(value, list | tuple)
        else str(value).replace(",", "\\").split("\\")
    )
    parts = [p.strip().upper() for p in parts if p.strip()]
    if len(parts) != 2 or any(p[0] not in _AXIS_FAMILY for p in parts):
        return None
    return parts[0][0], parts[1][0]


def _attribute(attributes: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if attributes.get(name) not in (None, ""):
            return attributes[name]
    return None


def canonical_xray_view(
    image: np.ndarray, label: np.ndarray | None, attributes: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Flip/transpose a 2D radiograph to the reading view its ViewPosition calls for.

    Spatial axis 0 runs along a DICOM row (the column index, nibabel/MONAI `x`), axis 1 along
    a column. PatientOrientation (0020,0020) says where each points; the canonical view has
    rows toward the patient's left (frontal: PA/AP) or back (lateral) and columns toward the
    feet. `ops` are applied in order; undo them in reverse (each is its own inverse).
    PatientOrientation must describe the array as given: a reader that reorients the pixels
    must update it, or the view would be flipped twice.
    """
    view = str(_attribute(attributes, "view_position", "ViewPosition") or "").upper()
    kind = "lateral" if view in _LATERAL_VIEWS else "frontal"
    target = _CANONICAL[kind]
    raw = _attribute(attributes, "patient_orientation", "PatientOrientation")
    current = _parse_orientation(raw)
    info: dict[str, Any] = {
        "view_position": view or None,
        "target": "\\".join(target),
        "orientation_before": None,
        "ops": [],
    }
    if current is None:
        info["note"] = "PatientOrientation missing or unreadable: image left as stored"
        return image, label, info
    info["orientation_before"] = "\\".join(current)
    row, col = current
    ops: list[str] = []
    if (
        _AXIS_FAMILY[row] != _AXIS_FAMILY[target[0]]
        and _AXIS_FAMILY[col] == _AXIS_FAMILY[target[0]]
    ):
        ops.append("transpose")
        row, col = col, row
    if _AXIS_FAMILY[row] != _AXIS_FAMILY[target[0]] or _AXIS_FAMILY[col] != _AXIS_FAMILY[target[1]]:
        info["note"] = (
            f"orientation {info['orientation_before']} does not match a {kind} "
            "view: image left as stored"
        )
        return image, label, info
    if row != target[0]:
        ops.append("flip_axis0")
    if col != target[1]:
        ops.append("flip_axis1")
    info["ops"] = ops
    info["orientation_after"] = "\\".join(target)
    image, label = apply_view_ops(image, label, ops)
    return image, label, info


def apply_view_ops(
    image: np.ndarray, label: np.ndarray | None, ops: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply recorded 2D view operations ("transpose", "flip_axis0", "flip_axis1") in order."""
    for op in ops:
        if op == "transpose":
            tx: Callable[[Any], Any] = Transpose((0, 2, 1))
        elif op in ("flip_axis0", "flip_axis1"):
            tx = Flip(spatial_axis=int(op[-1]))
        else:
            raise ValueError(f"unknown view operation {op!r}")
        image = _np(tx(image), np.float32)
        if label is not None:
            label = _np(tx(label[None]), label.dtype)[0]
    return image, label


def _foreground_box(label: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    if label is None or not np.any(label > 0):
        return None
    idx = np.nonzero(label > 0)
    return (np.array([i.min() for i in idx]), np.array([i.max() + 1 for i in idx]))


def crop_or_pad(
    image: np.ndarray, label: np.ndarray | None, input_shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Crop (centred on the foreground box if there is one) or pad each axis to the shape.

    Padding is symmetric with the image minimum (label 0), so it looks like background.
    """
    spatial = np.array(image.shape[1:])
    target = np.array(input_shape)
    box = _foreground_box(label)
    centre = (box[0] + box[1]) / 2 if box is not None else spatial / 2
    start = np.clip(
        np.floor(centre - target / 2 + 0.5).astype(int), 0, np.maximum(spatial - target, 0)
    )
    stop = np.minimum(start + target, spatial)
    info: dict[str, Any] = {
        "in_shape": spatial.tolist(),
        "centred_on": "foreground" if box is not None else "image",
        "crop_start": start.tolist(),
        "crop_stop": stop.tolist(),
    }
    if box is not None:
        info["foreground_cut"] = bool(np.any(box[0] < start) or np.any(box[1] > stop))
    slices = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    image = image[(slice(None), *slices)]
    if label is not None:
        label = label[slices]
    missing = np.maximum(target - (stop - start), 0)
    before = missing // 2
    pads = [[int(b), int(m - b)] for b, m in zip(before, missing, strict=True)]
    value = float(image.min())
    info.update(pad=pads, pad_value=value)
    # Plain slicing and np.pad: the same result as MONAI's SpatialCrop/BorderPad without a
    # tensor round trip, which dominates on Decathlon-sized (tiny) volumes.
    image = np.pad(image, [(0, 0), *pads], mode="constant", constant_values=value)
    image = np.ascontiguousarray(image, dtype=np.float32)
    if label is not None:
        label = np.ascontiguousarray(np.pad(label, pads, mode="constant", constant_values=0))
    return image, label, info


def preprocess_case(
    image: np.ndarray,
    label: np.ndarray | None,
    *,
    spacing: Sequence[float],
    attributes: Mapping[str, Any],
    plan: PreprocessPlan,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Canonical view (X-ray) → resample → crop/pad → normalise, recording each step.

    Normalisation comes last so padding is excluded by the MRI non-zero mask. CT needs
    dataset statistics: on a plan not yet fitted the array stays in HU and the record says
    the normalisation is deferred (apply `normalize` once `fit_ct_intensity` has run).
    """
    dims = plan.spatial_dims
    if image.ndim != dims + 1 or len(spacing) != dims:
        raise InputError(
            None,
            f"an image of shape {tuple(image.shape)} with spacing "
            f"{tuple(spacing)} does not fit the {dims}D plan",
            "keep 2D and 3D images in separate datasets",
        )
    if label is not None and label.shape != image.shape[1:]:
        raise InputError(
            None,
            f"label shape {label.shape} differs from image shape {image.shape[1:]}",
            "give each mask the grid of its image",
        )
    applied: dict[str, Any] = {
        "spatial_dims": dims,
        "in_shape": list(image.shape[1:]),
        "spacing": [float(s) for s in spacing],
    }
    image = np.asarray(image, dtype=np.float32)
    if plan.normalization == "xray" and dims == 2:
        image, label, applied["view"] = canonical_xray_view(image, label, attributes)
    before = image.shape[1:]
    image, label = resample(image, label, spacing, plan.target_spacing)
    applied["resample"] = {
        "target_spacing": list(plan.target_spacing),
        "from_shape": list(before),
        "to_shape": list(image.shape[1:]),
        "image_mode": "trilinear" if dims == 3 else "bilinear",
        "antialias_sigma": list(antialias_sigma(before, image.shape[1:])),
        "label_mode": "nearest-exact",
        "identity": tuple(before) == tuple(image.shape[1:]),
    }
    image, label, applied["crop_or_pad"] = crop_or_pad(image, label, plan.input_shape)
    if plan.normalization == "ct" and plan.ct_clip is None:
        applied["normalize"] = {"method": "ct", "deferred": True}
    else:
        image, applied["normalize"] = create_normalizer(plan.normalization)(image, plan)
    return image, label, applied


def intensity_sample(
    image: np.ndarray, label: np.ndarray | None, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Up to `n` foreground intensities (label > 0, else above-median voxels) for CT stats."""
    if label is not None and np.any(label > 0):
        values = image[:, label > 0].ravel()
    else:
        flat = image.ravel()
        values = flat[flat > np.median(flat)]
        values = values if values.size else flat
    if values.size > n:
        values = values[rng.choice(values.size, size=n, replace=False)]
    return values.astype(np.float32)
