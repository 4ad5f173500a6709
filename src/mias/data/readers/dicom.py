"""The DICOM layout: any folder tree of DICOM files, one case per series (see dicom_cases).

Only header facts reach the case draft: geometry, acquisition attributes, age (from
PatientAge, else from the study and birth dates, which are then dropped), sex, and — kept
apart for pseudonymisation only — the patient key, the direct identifiers and the UIDs.
Objects that cannot be a case are skipped and counted, broken files named (dicom_skips).
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
from mias.data.readers.dicom_cases import CaseDraft, assemble_cases
from mias.data.readers.dicom_geometry import SeriesGeometry
from mias.data.readers.dicom_pixels import check_decodable
from mias.data.readers.dicom_series import Series, group_series, read_dicom
from mias.data.readers.dicom_skips import LOCALIZER, Skips
from mias.data.readers.dicom_tree import looks_like_dicom, skipped_note, tree_files, walk
from mias.data.readers.labels import LABELS_DIR, match_label_folder
from mias.data.readers.source import Scan, ScannedCase, blank_attributes
from mias.errors import InputError

DICOM_DIR = "DATA"
_SEXES = {"M", "F", "O"}
_FIX = {"patients": "put each patient's series in a case folder of its own",
        "studies": "put each study in a case folder of its own",
        "modalities": "keep one modality per case folder",
        "grid": "resample the case's series onto one grid; channels must share one voxel "
                "grid"}


def case_container(root: Path) -> Path:
    """Where the images are: `root/DATA/` when present, else `root` itself.

    Both readings of the layout `DATA/…` occur: DATA as the folder passed to MIAS, or as a
    literal sub-folder beside participants.tsv and label tables.
    """
    data = root / DICOM_DIR
    return data if data.is_dir() else root


def image_series(items: Sequence[tuple[Path, Dataset]], skips: Skips | None = None,
                 ) -> list[Series]:
    """The image series among DICOM files, localizers dropped (`skips` keeps the tally of
    what was skipped over a whole scan; without it, a broken file stops)."""
    skips = Skips() if skips is None else skips
    kept = []
    for s in skips.intact(group_series(items, skips)):
        if "LOCALIZER" in [str(v).upper() for v in (s.first.get("ImageType") or [])]:
            skips.skip(LOCALIZER, len(s.files))
        else:
            kept.append(s)
    return kept


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


def scan_case(root: Path, draft: CaseDraft) -> ScannedCase:
    """The draft of one case from its series (channels) and their geometry."""
    series, geometry = draft.series, draft.geometries[0]
    first = series[0]
    datasets = [ds for s in series for _, ds in s.files]
    patients = {str(ds.get("PatientID", "") or "") for ds in datasets} - {""}
    identifiers = frozenset().union(*(phi.direct_identifiers(ds) for ds in datasets))
    age, sex, imputed = _demographics(first.first)
    imputed.update(geometry.imputed)
    channel_folders = tuple(os.path.commonpath([p for p, _ in s.files]) for s in series)
    notes = list(dict.fromkeys(s.split_reason for s in series if s.split_reason))
    return ScannedCase(
        key=draft.key, aliases=draft.aliases, image_paths=tuple(draft.paths),
        image_files=tuple(Path(os.path.relpath(f, root)).as_posix() for f in channel_folders),
        modality=first.modality, shape=geometry.grid.spatial_shape,
        spacing=geometry.grid.spatial_spacing, grid=geometry.grid,
        channel_names=channel_names(series, identifiers),
        attributes=header_attributes(first.first, geometry, identifiers), imputed=imputed,
        age=age, sex=sex, patient_key=patients.pop() if patients else None,
        identifiers=identifiers, notes=notes)


def _check_channels(container: Path, cases: Sequence[ScannedCase],
                    reasons: dict[Path, str]) -> list[str]:
    """Every case needs the same channels; say why a folder did not make one case."""
    counts = {len(c.channel_names) for c in cases}
    if len(counts) > 1:
        most = max(cases, key=lambda c: len(c.channel_names))
        for folder, reason in sorted(reasons.items()):
            kind = next((k for k in _FIX if k in reason), "grid")
            raise InputError(folder, f"{reason}, so its series are read as separate cases, "
                                     f"while case {most.key!r} has "
                                     f"{len(most.channel_names)} channels", _FIX[kind])
        odd = min(cases, key=lambda c: len(c.channel_names))
        raise InputError(container / odd.key, f"has {len(odd.channel_names)} series, case "
                                              f"{most.key!r} has {len(most.channel_names)}",
                         "give every case folder the same series (channels)")
    names = cases[0].channel_names
    if any(c.channel_names != names for c in cases):
        return [f"series descriptions differ between cases; channels are named after the "
                f"first case {names}"]
    return []


@register_reader("dicom", priority=30)
class DicomFolderReader(FormatReader):
    """DICOM files anywhere under the folder (or `DATA/`), masks in `labels/<case>.nii.gz`.

    Files are recognised by content, whatever their names; other files are skipped and
    counted, as are DICOM objects that cannot be a case. A broken file stops the scan
    unless `skip_broken`, which also decodes every image once to find undecodable pixel
    data before the run's long work. A mask of a radiograph (no patient geometry) is
    matched in NIfTI voxel order (column, row), the order dcm2niix writes; its affine is
    not compared.
    """

    def __init__(self, *, skip_broken: bool = False) -> None:
        self.skip_broken = skip_broken

    def matches(self, root: Path) -> bool:
        return any(looks_like_dicom(p) for p in walk(case_container(root)))

    def scan(self, root: Path) -> Scan:
        container = case_container(root)
        files = tree_files(container)
        skips = Skips(self.skip_broken, root)
        items = [(p, ds) for p in files.dicom
                 if (ds := skips.attempt(read_dicom, p)) is not None]
        series = image_series(items, skips)
        if self.skip_broken:
            for path in [p for s in series for p, _ in s.files]:
                skips.attempt(check_decodable, path)
            series = skips.intact(series)
        drafts, reasons = assemble_cases(container, series, skips)
        if not drafts:
            raise InputError(container, f"no usable image among the DICOM files (skipped: "
                                        f"{skips.summary()})",
                             "add the greyscale images, with SeriesInstanceUID and patient "
                             "geometry, of at least one case")
        cases = [scan_case(root, d) for d in sorted(drafts, key=lambda d: d.key)]
        labels = container / LABELS_DIR
        masks = match_label_folder(labels, [c.key for c in cases],
                                   {c.key: c.aliases for c in cases})
        for case in cases:
            case.label_path = masks.get(case.key, labels / f"{case.key}.nii.gz")
        warnings = skips.warnings() + _check_channels(container, cases, reasons)
        note = skipped_note(files.other)
        warnings += [note] if note else []
        return Scan("dicom", cases, cases[0].channel_names, warnings=warnings,
                    skipped_files=len(files.other), skipped_objects=dict(skips.objects),
                    broken_files=dict(skips.broken), broken_listing=skips.listing)
