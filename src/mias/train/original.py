"""The held-out cases as a radiologist has them: original file, original label, original grid.

`load_original` reads a case with the same readers `prepare` used (canonical RAS), and
`network_input` rebuilds the network's view of the whole scan from the recorded parameters
(view, resampling, padding, normalisation) — without the crop, so a scan larger than the
network input is covered by sliding windows instead of being cut.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import NormalizeIntensity
from monai.utils import convert_to_numpy

from mias.data.demographics import age_bin
from mias.data.readers import SourceCase, discover, load_case
from mias.data.transforms import apply_view_ops, resample
from mias.errors import InputError
from mias.records import CaseRecord, TaskSpec

SUBGROUP_ATTRIBUTES = ("sex", "age_bin", "manufacturer", "field_strength")


@dataclass(frozen=True)
class OriginalCase:
    record: CaseRecord
    preprocessing: dict[str, Any]
    image: np.ndarray          # (C, *canonical original shape), float32
    label: np.ndarray | None   # (*canonical original shape)
    affine: np.ndarray         # canonical affine
    spacing: tuple[float, ...]


def load_original(root: Path, record: CaseRecord, pre: Mapping[str, Any],
                  task: TaskSpec, label_stats: Mapping[str, Any] | None = None) -> OriginalCase:
    """The held-out case `record` from the dataset folder `root`; with the `label_stats`
    prepare recorded, a label file that is not the one prepared (same case id, another
    dataset) is refused rather than scored."""
    paths = tuple(root / f for f in record.image_files)
    label_path = root / record.label_file if record.label_file else None
    if any(not p.is_file() for p in paths):
        source = _discovered(root).get(record.case_id)
        if source is None:
            raise InputError(root, f"the held-out case {record.case_id} is not in this "
                             "dataset", "pass the dataset folder that was prepared with "
                             "--data DATA")
        paths, label_path = source.image_paths, source.label_path or label_path
    missing = [p for p in (*paths, *([label_path] if label_path else [])) if not p.exists()]
    if missing:
        raise InputError(missing[0], "an original file of a held-out case is missing",
                         "pass the dataset folder that was prepared with --data DATA")
    loaded = load_case(SourceCase(record, paths, label_path), task.label_names)
    if label_stats and loaded.label is not None:
        _check_same_label(root, record.case_id, loaded.label, label_stats)
    return OriginalCase(record, dict(pre), loaded.image, loaded.label, loaded.affine,
                        tuple(float(s) for s in pre["spacing"]))


def _check_same_label(root: Path, case_id: str, label: np.ndarray,
                      stats: Mapping[str, Any]) -> None:
    found = (int(label.size), int(np.count_nonzero(label > 0)))
    recorded = (stats.get("total_voxels"), stats.get("foreground_voxels"))
    if None not in recorded and found != recorded:
        raise InputError(root, f"the label of held-out case {case_id} here is not the one "
                         f"prepared ({found[0]} voxels, {found[1]} foreground; prepared: "
                         f"{recorded[0]}, {recorded[1]}): this is another dataset with the "
                         "same case ids", "pass the dataset folder that was prepared, with "
                         "--data DATA")


@functools.lru_cache(maxsize=4)
def _discovered(root: Path) -> dict[str, SourceCase]:
    """Case id → files, found the way `prepare` found them: a DICOM case is a series of
    files (and its record may name no file at all when its path held an identifier)."""
    return {c.record.case_id: c for c in discover(root).cases}


def subgroups(record: CaseRecord) -> dict[str, str]:
    """The case's group under each attribute ("unknown" when not recorded)."""
    attrs = record.attributes or {}

    def text(v: Any) -> str:
        return "unknown" if v in (None, "") else str(v)

    return {"sex": record.sex, "age_bin": age_bin(record.age),
            "manufacturer": text(attrs.get("manufacturer")),
            "field_strength": text(attrs.get("field_strength"))}


def network_input(case: OriginalCase) -> np.ndarray:
    """The whole scan in the network's space: resampled, padded and normalised as recorded,
    but not cropped (shape ≥ the input shape on every axis)."""
    pre = case.preprocessing
    image = case.image.astype(np.float32)
    ops = (pre.get("view") or {}).get("ops") or []
    if ops:
        image, _ = apply_view_ops(image, None, ops)
    image, _ = resample(image, None, case.spacing, pre["resample"]["target_spacing"])
    if list(image.shape[1:]) != list(pre["resample"]["to_shape"]):
        raise InputError(case.record.image_files[0], "the scan no longer matches its "
                         "prepared record (resampled shape differs)", "re-run `mias prepare`")
    cp = pre["crop_or_pad"]
    image = np.pad(image, [(0, 0), *cp["pad"]], mode="constant",
                   constant_values=cp["pad_value"])
    return normalise(image, pre["normalize"])


def normalise(image: np.ndarray, norm: Mapping[str, Any]) -> np.ndarray:
    """The recorded intensity normalisation (MONAI `NormalizeIntensity`, recorded stats)."""
    if norm.get("method") == "ct":
        image = np.clip(image, *norm["clip"])
        tx = NormalizeIntensity(subtrahend=norm["mean"], divisor=norm["std"])
    else:
        tx = NormalizeIntensity(subtrahend=np.asarray(norm["mean"], dtype=np.float32),
                                divisor=np.asarray(norm["std"], dtype=np.float32),
                                nonzero=bool(norm.get("nonzero")), channel_wise=True)
    return np.asarray(convert_to_numpy(tx(image)), dtype=np.float32)
