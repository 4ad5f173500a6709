"""`mias predict MODEL DATA --out DIR`: an exported model on new scans, without torch.

Scans are found and decoded by the same readers as `mias prepare` (any layout it reads),
so case ids are the same pseudonyms and no identifier reaches a record. Per case it writes
`<case>.nii.gz` (the mask on the input's own grid: its file voxel order, shape and
affine), for DICOM input `<case>.seg.dcm` (unless `seg=False`), and one
`predictions.json` with volumes, classes, out-of-range warnings and the inference applied
(window, mirroring, postprocessing, threshold) — all into a temporary
folder renamed into place, so a bad scan half-way leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from pydicom.dataset import Dataset

from mias import __version__
from mias.atomic import atomic_dir, write_json
from mias.data.imputation import SPACING_UNSTATED
from mias.data.readers import SourceCase, discover, load_case
from mias.data.readers.dicom import image_series
from mias.data.readers.dicom_geometry import SeriesGeometry, series_geometry
from mias.data.readers.dicom_series import read_dicom
from mias.data.readers.grid import Grid
from mias.data.readers.nifti import read_info
from mias.export.inference import ExportedModel, Prediction
from mias.export.ranges import range_warnings
from mias.export.seg import SEG_SUFFIX, write_seg
from mias.records import CaseRecord

PREDICTIONS_SCHEMA_VERSION = 1
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SourceGrid:
    """The input's file-order grid, and for DICOM the series it came from."""

    grid: Grid
    geometry: SeriesGeometry | None = None
    datasets: dict[Path, Dataset] | None = None


def source_grid(case: SourceCase) -> SourceGrid:
    """Header-only: the grid a mask must be written on to overlay the input."""
    if case.record.source_format != "dicom":
        return SourceGrid(read_info(case.image_paths[0]).grid)
    paths = list(case.image_paths)
    datasets = [read_dicom(p) for p in paths]
    series = image_series(list(zip(paths, datasets, strict=True)))
    geometry = series_geometry(series[0])
    return SourceGrid(geometry.grid, geometry, dict(zip(paths, datasets, strict=True)))


def to_file_order(labels: np.ndarray, grid: Grid) -> np.ndarray:
    """A canonical-RAS label map back in the input's voxel order (inverse of the readers'
    reorientation; a 2D image gets its flat axis back)."""
    if grid.flat_axis is not None and labels.ndim == 2:
        labels = np.expand_dims(labels, grid.flat_axis)
    back = ornt_transform(axcodes2ornt("RAS"), io_orientation(grid.source_affine))
    return np.ascontiguousarray(apply_orientation(labels, back))


def _seg_frames(labels_file: np.ndarray, source: SourceGrid) -> tuple[np.ndarray, list[Dataset]]:
    """Frames [n, rows, cols] in the order highdicom pairs them with the source images."""
    planes = source.geometry.planes
    by_slice = labels_file.transpose(2, 1, 0)
    if len({p.path for p in planes}) == 1:
        frames = np.zeros_like(by_slice)
        for k, plane in enumerate(planes):
            frames[plane.frame] = by_slice[k]
        return frames, [source.datasets[planes[0].path]]
    return by_slice, [source.datasets[p.path] for p in planes]


def _structure_sizes(labels: np.ndarray, spacing: tuple[float, ...],
                     names: tuple[str, ...]) -> dict[str, float]:
    voxel = float(np.prod(spacing))
    counts = np.bincount(labels.ravel(), minlength=len(names))
    return {name: float(counts[i]) * voxel for i, name in enumerate(names) if i > 0}


def _case_entry(model: ExportedModel, record: CaseRecord, pred: Prediction,
                nonfinite: int) -> dict[str, Any]:
    names = model.spec.label_names
    entry: dict[str, Any] = {"case_id": record.case_id}
    notes: list[str] = []
    if nonfinite:
        notes.append(f"{nonfinite} voxel(s) are NaN or infinite in the scan: they were set to "
                     "the channel's minimum before inference, so the output there rests on "
                     "no measurement")
    if pred.labels is not None:
        unit = "volumes_mm3" if pred.labels.ndim == 3 else "areas_mm2"
        if record.imputed.get("spacing") in SPACING_UNSTATED:
            entry[unit] = None
            notes.append(f"the scan states no pixel spacing ({record.imputed['spacing']}): "
                         f"{unit.split('_')[0]} are not computed")
        else:
            entry[unit] = _structure_sizes(pred.labels, record.spacing, names)
    if pred.probabilities is not None:
        k = int(np.argmax(pred.probabilities)) if pred.label is None else pred.label
        entry["class"] = names[k] if k < len(names) else k
        entry["probability"] = float(pred.probabilities[k])
        if model.spec.threshold:
            entry["threshold"] = float(model.spec.threshold["threshold"])
        entry["probabilities"] = {str(n): float(p) for n, p in
                                  zip(names, pred.probabilities, strict=False)}
    if pred.value is not None:
        entry["value"] = pred.value
    entry["warnings"] = notes + range_warnings(model.spec.ranges, record, pred.intensity_mean)
    return entry


def _write_case(tmp: Path, model: ExportedModel, case: SourceCase, pred: Prediction,
                seg: bool) -> dict[str, str]:
    written: dict[str, str] = {}
    if pred.labels is None:
        return written
    source = source_grid(case)
    labels_file = to_file_order(pred.labels, source.grid)
    name = f"{case.record.case_id}.nii.gz"
    img = nib.Nifti1Image(labels_file, source.grid.source_affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp / name)
    written["mask"] = name
    if seg and source.geometry is not None:
        frames, sources = _seg_frames(labels_file, source)
        seg_name = f"{case.record.case_id}{SEG_SUFFIX}"
        write_seg(tmp / seg_name, frames, sources, model.spec.label_names,
                  case.record.subject_id)
        written["seg"] = seg_name
    return written


def predict(model_path: str | Path, data: str | Path, out: str | Path, *, seg: bool = True,
            overwrite: bool = False, threads: int | None = None,
            progress: Progress | None = None) -> Path:
    """Predict every scan under `data` into `out` (see the module docstring)."""
    model = ExportedModel(model_path, threads)
    source = discover(Path(data))
    total = len(source.cases)
    cases: list[dict[str, Any]] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for i, case in enumerate(source.cases):
            case = replace(case, label_path=None)
            loaded = load_case(case, ())
            pred = model.predict(loaded.image, case.record.spacing, case.image_paths[0])
            entry = _case_entry(model, case.record, pred, loaded.nonfinite_voxels)
            entry.update(_write_case(tmp, model, case, pred, seg))
            cases.append(entry)
            if progress:
                progress("predict", i + 1, total)
        warnings = list(source.warnings) + [f"{c['case_id']}: {w}" for c in cases
                                            for w in c["warnings"]]
        write_json(tmp / "predictions.json", {
            "schema_version": PREDICTIONS_SCHEMA_VERSION, "mias_version": __version__,
            "model": model.spec.model, "task": model.spec.kind,
            "inference": model.spec.inference,
            "label_names": list(model.spec.label_names), "cases": cases,
            "warnings": warnings})
    return Path(out)
