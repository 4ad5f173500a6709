"""The preprocessing plan: one target spacing, input shape and intensity rule per dataset.

The rules follow nnU-Net's fingerprint heuristics (median spacing, 10th percentile on a
strongly anisotropic axis; CT clipped to the foreground 0.5–99.5 percentiles and z-scored
with dataset statistics; MRI z-scored per case), then bound the input shape so the searched
network still fits an edge device. Every choice carries the reason it was made, because the
validation report has to explain it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.records import CaseRecord

NORMALIZATIONS: tuple[str, ...] = ("ct", "mri", "xray", "zscore")
ANISOTROPY_RATIO = 3.0
DEFAULT_MAX_VOXELS = {2: 256**2, 3: 128**3}
# The largest input shape a user may ask for: 64 MiB per channel as float32, 64× the default
# 3D bound and 256× the 2D one. Beyond it a prepared case no longer fits an edge device (a
# Raspberry Pi 3 has 1 GB in all), and preparing the dataset would exhaust this machine.
MAX_INPUT_VOXELS = 2**24
CT_PERCENTILES = (0.5, 99.5)

_MRI_MODALITIES = {
    "MR",
    "MRI",
    "FLAIR",
    "T1",
    "T1W",
    "T1GD",
    "T1C",
    "T2",
    "T2W",
    "PD",
    "ADC",
    "DWI",
    "DTI",
    "SWI",
    "BOLD",
    "PERFUSION",
}
_XRAY_MODALITIES = {
    "CR",
    "DX",
    "DR",
    "RG",
    "MG",
    "XR",
    "XRAY",
    "X-RAY",
    "RADIOGRAPH",
    "MAMMOGRAPHY",
}


@dataclass(frozen=True)
class PreprocessPlan:
    """How every case of a dataset is resampled, normalised and cropped (one per dataset)."""

    spatial_dims: int
    modality: str
    target_spacing: tuple[float, ...]
    input_shape: tuple[int, ...]
    normalization: str
    ct_clip: tuple[float, float] | None = None
    ct_mean: float | None = None
    ct_std: float | None = None
    anisotropic_axis: int | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if (
            len(self.target_spacing) != self.spatial_dims
            or len(self.input_shape) != self.spatial_dims
        ):
            raise ValueError("target_spacing and input_shape need one entry per spatial axis")

    def to_dict(self) -> dict[str, Any]:
        return {
            "spatial_dims": self.spatial_dims,
            "modality": self.modality,
            "target_spacing": list(self.target_spacing),
            "input_shape": list(self.input_shape),
            "normalization": self.normalization,
            "ct_clip": None if self.ct_clip is None else list(self.ct_clip),
            "ct_mean": self.ct_mean,
            "ct_std": self.ct_std,
            "anisotropic_axis": self.anisotropic_axis,
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessPlan:
        clip = d.get("ct_clip")
        return cls(
            spatial_dims=int(d["spatial_dims"]),
            modality=str(d["modality"]),
            target_spacing=tuple(float(s) for s in d["target_spacing"]),
            input_shape=tuple(int(s) for s in d["input_shape"]),
            normalization=str(d["normalization"]),
            ct_clip=None if clip is None else (float(clip[0]), float(clip[1])),
            ct_mean=None if d.get("ct_mean") is None else float(d["ct_mean"]),
            ct_std=None if d.get("ct_std") is None else float(d["ct_std"]),
            anisotropic_axis=None
            if d.get("anisotropic_axis") is None
            else int(d["anisotropic_axis"]),
            reasons={str(k): str(v) for k, v in d.get("reasons", {}).items()},
        )


def normalization_for(modality: str) -> str:
    """The intensity rule of a modality: DICOM codes (CT, MR, CR…) or MSD names (FLAIR, T1w…)."""
    code = modality.strip().upper()
    if code == "CT":
        return "ct"
    if code in _MRI_MODALITIES:
        return "mri"
    if code in _XRAY_MODALITIES:
        return "xray"
    return "zscore"


def parse_shape(text: str, spatial_dims: int | None = None) -> tuple[int, ...]:
    """Parse `--input-shape` text such as "32x48x32" (or "32,48,32") into a tuple."""
    parts = [p for p in re.split(r"\s*[x×,]\s*", str(text).strip().lower()) if p != ""]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(None, f"--input-shape {text!r} is not a shape", _SHAPE_FIX)
    return check_input_shape(tuple(int(p) for p in parts), spatial_dims)


_SHAPE_FIX = ("give positive integers joined by 'x', e.g. --input-shape 32x48x32 (3D) or "
              "256x256 (2D)")


def check_input_shape(shape: Sequence[int], spatial_dims: int | None = None) -> tuple[int, ...]:
    """A network input shape: 2 or 3 positive axes (`spatial_dims` if given), bounded size."""
    shape = tuple(int(s) for s in shape)
    text = "x".join(str(s) for s in shape)
    if any(s <= 0 for s in shape):
        raise InputError(None, f"--input-shape {text} has a zero-sized axis", _SHAPE_FIX)
    if len(shape) not in (2, 3):
        raise InputError(None, f"--input-shape {text} has {len(shape)} axes, not 2 or 3",
                         _SHAPE_FIX)
    if spatial_dims is not None and len(shape) != spatial_dims:
        raise InputError(
            None,
            f"--input-shape {text} has {len(shape)} axes but the images are {spatial_dims}D",
            _SHAPE_FIX,
        )
    if math.prod(shape) > MAX_INPUT_VOXELS:
        raise InputError(None, f"--input-shape {text} has {math.prod(shape):,} voxels, more "
                               f"than the {MAX_INPUT_VOXELS:,} an edge-device network input "
                               "can hold",
                         "ask for a smaller shape, or leave --input-shape out to let mias plan "
                         "it from the data")
    return shape


def plan_preprocessing(
    records: Sequence[CaseRecord],
    *,
    spatial_dims: int,
    input_shape: Sequence[int] | None = None,
    max_voxels: int | None = None,
) -> PreprocessPlan:
    """Plan target spacing, input shape and normalisation from the records' headers alone."""
    if not records:
        raise InputError(None, "the dataset has no cases", "point DATA at a folder with images")
    spacings = np.array([_spatial(r, r.spacing, spatial_dims) for r in records], dtype=float)
    shapes = np.array([_spatial(r, r.shape, spatial_dims) for r in records], dtype=float)
    reasons: dict[str, str] = {}
    target, aniso_axis = _target_spacing(spacings, reasons)
    if input_shape is None:
        limit = max_voxels or DEFAULT_MAX_VOXELS[spatial_dims]
        shape, target = _plan_shape(shapes * spacings / np.array(target), target, limit, reasons)
    else:
        shape = check_input_shape(input_shape, spatial_dims)
        reasons["input_shape"] = "given by the user"
    modality = Counter(r.modality for r in records).most_common(1)[0][0]
    norm = normalization_for(modality)
    reasons["normalization"] = _NORMALIZATION_REASONS[norm].format(modality=modality)
    return PreprocessPlan(
        spatial_dims=spatial_dims,
        modality=modality,
        target_spacing=target,
        input_shape=shape,
        normalization=norm,
        anisotropic_axis=aniso_axis,
        reasons=reasons,
    )


def fit_ct_intensity(
    plan: PreprocessPlan, foreground_samples: Iterable[np.ndarray]
) -> PreprocessPlan:
    """Fit nnU-Net's CT rule: clip at the foreground 0.5/99.5 percentiles, dataset z-score."""
    values = [np.asarray(s, dtype=np.float64).ravel() for s in foreground_samples]
    pooled = np.concatenate(values) if values else np.empty(0)
    pooled = pooled[np.isfinite(pooled)]
    if pooled.size == 0:
        raise InputError(
            None,
            "no foreground intensities to fit the CT normalisation",
            "check that the CT images and their labels are not empty",
        )
    lo, hi = (float(v) for v in np.percentile(pooled, CT_PERCENTILES))
    clipped = np.clip(pooled, lo, hi)
    mean, std = float(clipped.mean()), float(clipped.std())
    std = std if std > 0 else 1.0
    reasons = dict(plan.reasons)
    reasons["ct_intensity"] = (
        f"clipped to the foreground {CT_PERCENTILES[0]}–{CT_PERCENTILES[1]} percentiles "
        f"[{lo:.1f}, {hi:.1f}] and z-scored with the dataset mean {mean:.1f} and std {std:.1f} "
        f"over {pooled.size} sampled voxels (nnU-Net's CT rule: HU are comparable across "
        "scans, so one dataset-wide mapping keeps that meaning)"
    )
    return replace(plan, ct_clip=(lo, hi), ct_mean=mean, ct_std=std, reasons=reasons)


_NORMALIZATION_REASONS = {
    "ct": "{modality}: Hounsfield units are absolute, so clip and z-score with dataset-wide "
    "foreground statistics (nnU-Net)",
    "mri": "{modality}: MRI intensities have no absolute scale, so each case is z-scored on "
    "its non-zero (body) voxels, channel by channel (nnU-Net)",
    "xray": "{modality}: radiograph exposure varies per image, so each image is z-scored",
    "zscore": "{modality}: no modality-specific rule, so each case is z-scored",
}


def _spatial(record: CaseRecord, values: Sequence[float], spatial_dims: int) -> tuple[float, ...]:
    """The spatial entries of a header field, dropping trailing singleton axes (a 2D slab)."""
    vals = tuple(values)
    if len(vals) == spatial_dims:
        return vals
    extra = record.shape[spatial_dims:]
    if len(vals) > spatial_dims and len(record.shape) == len(vals) and all(s == 1 for s in extra):
        return vals[:spatial_dims]
    raise InputError(
        record.image_files[0] if record.image_files else record.case_id,
        f"case {record.case_id} has {len(vals)} spatial axes but the dataset is {spatial_dims}D",
        "keep 2D and 3D images in separate datasets",
    )


def _target_spacing(
    spacings: np.ndarray, reasons: dict[str, str]
) -> tuple[tuple[float, ...], int | None]:
    target = np.median(spacings, axis=0)
    reasons["target_spacing"] = "per-axis median spacing of the dataset (nnU-Net)"
    if target.size < 2:
        return tuple(float(t) for t in target), None
    worst = int(np.argmax(target))
    finest_other = float(np.max(np.delete(target, worst)))
    if target[worst] <= ANISOTROPY_RATIO * finest_other:
        return tuple(float(t) for t in target), None
    p10 = float(np.percentile(spacings[:, worst], 10))
    chosen = max(p10, finest_other)
    reasons["target_spacing"] += (
        f"; axis {worst} is {target[worst] / finest_other:.1f}× coarser than the others, so "
        f"its 10th percentile ({chosen:.3g} mm instead of the median {target[worst]:.3g} mm) "
        "is used: resampling the coarse axis to its median would discard the finer scans' "
        "detail (nnU-Net's anisotropy rule)"
    )
    target[worst] = chosen
    return tuple(float(t) for t in target), worst


def _round_up(size: float) -> int:
    step = 8 if size >= 16 else 4
    return max(step, math.ceil(size / step - 1e-9) * step)


def _round_down(size: float) -> int:
    step = 8 if size >= 16 else 4
    return max(step, math.floor(size / step + 1e-9) * step)


def _plan_shape(
    resampled: np.ndarray, target: tuple[float, ...], max_voxels: int, reasons: dict[str, str]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Median resampled shape, rounded up; over the voxel bound, coarsen the spacing instead.

    Coarsening keeps the whole field of view (a radiograph or a brain must not be cut to a
    patch the edge device cannot tile over); the target spacing grows so the median case
    maps onto the bounded shape.
    """
    median = np.median(resampled, axis=0)
    shape = [_round_up(s) for s in median]
    reasons["input_shape"] = (
        f"median shape after resampling {tuple(round(float(m), 1) for m in median)}, rounded up "
        "to a multiple of 8 (4 on axes under 16 voxels) so every axis survives the network's "
        "down-sampling"
    )
    if math.prod(shape) <= max_voxels:
        return tuple(shape), target
    scale = (max_voxels / math.prod(median)) ** (1 / len(median))
    bounded = [_round_down(s * scale) for s in median]
    while math.prod(bounded) > max_voxels and max(bounded) > 4:
        axis = int(np.argmax(bounded))
        bounded[axis] = _round_down(bounded[axis] - 1)
    coarser = tuple(float(t * m / b) for t, m, b in zip(target, median, bounded, strict=True))
    reasons["input_shape"] += (
        f"; {tuple(shape)} ({math.prod(shape)} voxels) exceeds the edge-device bound of "
        f"{max_voxels} voxels, so it was scaled down by about {scale:.2f} per axis, keeping "
        f"the aspect ratio, to {tuple(bounded)}"
    )
    reasons["target_spacing"] += (
        f"; coarsened to {tuple(round(c, 3) for c in coarser)} mm so the median case fits the "
        "bounded input shape whole"
    )
    return tuple(bounded), coarser
