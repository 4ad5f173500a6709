"""The DICOM layout: `DATA/<case>/…`, one folder per case, each series of it a channel.

Only header facts reach the case draft: geometry, acquisition attributes, age (from
PatientAge, else from the study and birth dates, which are then dropped), sex, and — kept
apart for pseudonymisation only — the patient key and the direct identifiers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from mias.data import phi
from mias.data.age import age_from_dates, parse_dicom_age
from mias.data.imputation import AGE_FROM_DATES
from mias.data.readers.detect import FormatReader, register_reader
from mias.data.readers.dicom_geometry import SeriesGeometry, series_geometry
from mias.data.readers.dicom_series import RADIOGRAPHY, Series, group_series, read_dicom
from mias.data.readers.labels import LABELS_DIR, match_label_folder
from mias.data.readers.source import Scan, ScannedCase, blank_attributes
from mias.errors import InputError

DICOM_DIR = "DATA"
_SKIP_FILES = {"DICOMDIR", "Thumbs.db", "desktop.ini"}
_SEXES = {"M", "F", "O"}


def looks_like_dicom(path: Path) -> bool:
    """A Part 10 file: 128-byte preamble then 'DICM'."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def case_files(folder: Path) -> list[Path]:
    """Every file under a case folder, except hidden and directory/OS files."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(parent) / n for n in sorted(names)
                  if not n.startswith(".") and n not in _SKIP_FILES]
    return found


def case_container(root: Path) -> Path:
    """Where the case folders are: `root/DATA/` when present, else `root` itself.

    Both readings of the layout `DATA/<case>/…` occur: DATA as the folder passed to MIAS,
    or as a literal sub-folder beside participants.tsv and label tables.
    """
    data = root / DICOM_DIR
    return data if data.is_dir() else root


def case_folders(root: Path) -> list[Path]:
    container = case_container(root)
    return sorted(p for p in container.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != LABELS_DIR)


def ordered_series(files: Sequence[Path], datasets: Sequence[Dataset],
                   folder: Path) -> tuple[list[Series], list[str]]:
    """The image series of a case in channel order, localizers dropped (with a warning)."""
    series, skipped = group_series(zip(files, datasets, strict=True))
    notes = [f"skipped {len(skipped)} non-image DICOM object(s)"] if skipped else []
    kept = []
    for s in series:
        image_type = [str(v).upper() for v in (s.first.get("ImageType") or [])]
        if "LOCALIZER" in image_type:
            notes.append(f"skipped localizer series {s.number}")
        else:
            kept.append(s)
    if not kept:
        raise InputError(folder, "no image series in the case folder (only non-image DICOM "
                                 "objects or localizers)", "add the case's image series")
    return kept, notes


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    items = value if isinstance(value, MultiValue | list | tuple) else [value]
    text = "\\".join(str(v) for v in items)
    return text.strip() or None


def _number(ds: Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def header_attributes(ds: Dataset, geometry: SeriesGeometry,
                      identifiers: frozenset[str]) -> dict[str, Any]:
    """Acquisition attributes of a case (study year only; free text checked for PHI)."""
    description = _text(ds, "SeriesDescription")
    if description and phi.contains_identifier(description, identifiers):
        description = phi.REDACTED
    study = _text(ds, "StudyDate")
    return blank_attributes(
        slice_thickness=geometry.slice_thickness, slice_spacing=geometry.slice_spacing,
        manufacturer=_text(ds, "Manufacturer"),
        manufacturer_model=_text(ds, "ManufacturerModelName"),
        field_strength=_number(ds, "MagneticFieldStrength"),
        view_position=_text(ds, "ViewPosition"),
        patient_orientation=_text(ds, "PatientOrientation"),
        series_description=description,
        study_year=int(study[:4]) if study and study[:4].isdigit() else None)


def channel_names(series: Sequence[Series], identifiers: frozenset[str]) -> tuple[str, ...]:
    """SeriesDescription per channel (`series<N>` if missing or holding an identifier)."""
    names: list[str] = []
    for s in series:
        name = s.description
        if not name or phi.contains_identifier(name, identifiers):
            name = f"series{s.number}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}#{n}", n + 1
        names.append(name)
    return tuple(names)


def _demographics(ds: Dataset) -> tuple[float | None, str, dict[str, str]]:
    age = parse_dicom_age(_text(ds, "PatientAge"))
    imputed = {}
    if age is None:
        age = age_from_dates(_text(ds, "StudyDate"), _text(ds, "PatientBirthDate"))
        if age is not None:
            imputed["age"] = AGE_FROM_DATES
    sex = (_text(ds, "PatientSex") or "").upper()
    return age, sex if sex in _SEXES else "unknown", imputed


def scan_case(root: Path, folder: Path) -> ScannedCase:
    """Read the headers of one case folder into a draft."""
    files = case_files(folder)
    if not files:
        raise InputError(folder, "empty case folder", "remove it or add the case's DICOM files")
    datasets = [read_dicom(p) for p in files]
    series, notes = ordered_series(files, datasets, folder)
    geometries = [series_geometry(s) for s in series]
    first, geometry = series[0], geometries[0]
    for s, g in zip(series[1:], geometries[1:], strict=True):
        if s.modality != first.modality and not {s.modality, first.modality} <= RADIOGRAPHY:
            raise InputError(folder, f"series {s.number} is {s.modality} but series "
                                     f"{first.number} is {first.modality}",
                             "keep one modality per case folder")
        if not g.grid.matches(geometry.grid):
            raise InputError(s.folder, f"series {s.number} ({g.grid.describe()}) is not on the "
                                       f"grid of series {first.number} "
                                       f"({geometry.grid.describe()})",
                             "resample the case's series onto one grid; channels must share "
                             "one voxel grid")
    patients = {str(ds.get("PatientID", "") or "") for ds in datasets} - {""}
    if len(patients) > 1:
        raise InputError(folder, f"the case folder holds images of {len(patients)} patients",
                         "put each patient's study in its own case folder")
    identifiers = frozenset().union(*(phi.direct_identifiers(ds) for ds in datasets))
    age, sex, imputed = _demographics(first.first)
    imputed.update(geometry.imputed)
    rel_folders = tuple(os.path.commonpath([p for p, _ in s.files]) for s in series)
    return ScannedCase(
        key=folder.name,
        image_paths=tuple(p for s in series for p, _ in s.files),
        image_files=tuple(Path(f).relative_to(root).as_posix() for f in rel_folders),
        modality=first.modality, shape=geometry.grid.spatial_shape,
        spacing=geometry.grid.spatial_spacing, grid=geometry.grid,
        channel_names=channel_names(series, identifiers),
        attributes=header_attributes(first.first, geometry, identifiers), imputed=imputed,
        age=age, sex=sex, patient_key=patients.pop() if patients else None,
        identifiers=identifiers, notes=notes)


@register_reader("dicom", priority=30)
class DicomFolderReader(FormatReader):
    """`DATA/<case>/…` DICOM folders (any depth), masks in `DATA/labels/<case>.nii.gz`.

    A mask of a radiograph (no patient geometry) is matched in NIfTI voxel order
    (column, row), the order dcm2niix writes; its affine is not compared.
    """

    def matches(self, root: Path) -> bool:
        for folder in case_folders(root):
            if any(looks_like_dicom(p) for p in case_files(folder)[:20]):
                return True
        return False

    def scan(self, root: Path) -> Scan:
        container = case_container(root)
        loose = [p for p in container.iterdir() if p.is_file() and looks_like_dicom(p)]
        if loose:
            raise InputError(loose[0], "DICOM files lie directly in the dataset folder",
                             "put each case's files in its own folder DATA/<case>/")
        folders = case_folders(root)
        labels = container / LABELS_DIR
        masks = match_label_folder(labels, [f.name for f in folders])
        cases, warnings = [], []
        for folder in folders:
            case = scan_case(root, folder)
            case.label_path = masks.get(case.key, labels / f"{case.key}.nii.gz")
            cases.append(case)
        counts = {len(c.channel_names) for c in cases}
        if len(counts) > 1:
            odd = next(c for c in cases if len(c.channel_names) != len(cases[0].channel_names))
            raise InputError(root / odd.key, f"has {len(odd.channel_names)} series, case "
                                             f"{cases[0].key!r} has "
                                             f"{len(cases[0].channel_names)}",
                             "give every case folder the same series (channels)")
        names = cases[0].channel_names
        if any(c.channel_names != names for c in cases):
            warnings.append(f"series descriptions differ between cases; channels are named "
                            f"after the first case {names}")
        return Scan("dicom", cases, names, warnings=warnings)
