"""`discover`: a dataset folder → pseudonymous case records plus the paths to read them.

Only headers are read (masks too when a plain folder does not declare its labels). The
order is fixed: scan the layout, validate it, attach labels and participants.tsv, then
pseudonymise — so no raw case key, patient id or identifier survives into a record.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mias.data import phi
from mias.data.readers.detect import create_reader, detect_format
from mias.data.readers.dicom_series import RADIOGRAPHY
from mias.data.readers.labels import LABELS_DIR, check_mask_grid, mask_label_names, read_label_table
from mias.data.readers.participants import Participant, read_participants
from mias.data.readers.source import UNLABELED, DatasetSource, Scan, ScannedCase, SourceCase
from mias.errors import InputError
from mias.records import TASK_KINDS, CaseRecord


def discover(root: Path, *, task: str | None = None, labels_csv: Path | None = None,
             skip_broken: bool = False, warn: Callable[[str], None] | None = None,
             ) -> DatasetSource:
    """Find, validate and pseudonymise every case of the dataset at `root`.

    `task` is a task kind (segmentation, classification, regression) or None to infer it:
    a label table gives classification or regression, masks give segmentation, and with
    neither the dataset is `UNLABELED`. Dataset-level imputation is `impute`'s job.
    `skip_broken` leaves broken DICOM files out instead of stopping. `warn` hears each
    warning as soon as it is known, before validation may stop the run, and also the broken
    files by path: those lines are for the console only, never for `warnings`.
    """
    if task is not None and task not in TASK_KINDS:
        raise InputError(None, f"unknown task {task!r}", f"use one of {', '.join(TASK_KINDS)}")
    root = Path(os.path.abspath(root))
    fmt = detect_format(root)
    options = {"skip_broken": True} if skip_broken and fmt == "dicom" else {}
    scan = create_reader(fmt, **options).scan(root)
    if warn:
        for line in (*scan.broken_listing, *scan.warnings):
            warn(line)
    scan.cases.sort(key=lambda c: c.key)
    _check_cases(root, scan)
    kind, label_names, targets = _labels(root, scan, task,
                                         None if labels_csv is None else Path(labels_csv))
    participants = read_participants(root)
    cases = tuple(_source_case(root, scan, c, kind, targets.get(c.key),
                               _participant(participants, c)) for c in scan.cases)
    ids = Counter(c.record.case_id for c in cases)
    clash = [i for i, n in ids.items() if n > 1]
    if clash:
        raise InputError(root, f"two cases share the case id {clash[0]!r}",
                         "give every case a distinct file or folder name")
    notes = [f"{sc.record.case_id}: {note}" for sc, c in zip(cases, scan.cases, strict=True)
             for note in c.notes]
    modality = _dataset_modality(root, scan)
    if warn:
        for note in notes:
            warn(note)
    return DatasetSource(root=root, format=fmt, cases=cases, kind=kind,
                         label_names=label_names, channel_names=scan.channel_names,
                         modality=modality, warnings=(*scan.warnings, *notes),
                         skipped_files=scan.skipped_files,
                         skipped_objects=scan.skipped_objects, broken_files=scan.broken_files,
                         root_identifying=phi.is_identifying(
                             str(root), frozenset().union(*(c.identifiers for c in scan.cases))))


def _participant(table: dict[str, Participant], case: ScannedCase) -> Participant | None:
    """The participants.tsv row of a case, by its key or else one of its other names."""
    return next((table[n] for n in (case.key, *case.aliases) if n in table), None)


def _check_cases(root: Path, scan: Scan) -> None:
    if not scan.cases:
        raise InputError(root, "no cases found", "add the images of at least one case")
    seen: dict[str, ScannedCase] = {}
    for case in scan.cases:
        if case.key in seen:
            raise InputError(case.image_paths[0], f"case {case.key!r} appears twice (also "
                                                  f"{seen[case.key].image_paths[0].name})",
                             "keep one file (or folder) per case")
        seen[case.key] = case
    dims = Counter(len(c.shape) for c in scan.cases).most_common(1)[0][0]
    odd = [c for c in scan.cases if len(c.shape) != dims]
    if odd:
        raise InputError(odd[0].image_paths[0], f"a {len(odd[0].shape)}D image in a dataset "
                                                f"of {dims}D images ({len(odd)} of "
                                                f"{len(scan.cases)} cases differ)",
                         "keep 2D images and 3D volumes in separate datasets")


def _labels(root: Path, scan: Scan, task: str | None, labels_csv: Path | None,
            ) -> tuple[str, tuple[str, ...], dict[str, int | float]]:
    """The task kind, label names and per-case targets (tables) — masks are checked here."""
    if labels_csv is not None:
        if task == "segmentation":
            raise InputError(labels_csv, "a label table gives one label per case; "
                                         "segmentation needs masks",
                             "drop --labels, or choose a classification/regression task")
        table = read_label_table(labels_csv, [c.key for c in scan.cases], task,
                                 {c.key: c.aliases for c in scan.cases})
        return table.kind, table.label_names, table.values
    declared = scan.label_names is not None and any(c.label_path for c in scan.cases)
    present = any(c.label_path is not None and c.label_path.is_file() for c in scan.cases)
    if not (declared or present):
        if task is None:
            return UNLABELED, (), {}
        if task == "segmentation":
            raise InputError(root, "no label masks found",
                             f"add {LABELS_DIR}/<case>.nii.gz masks (labelsTr/ for MSD and "
                             "nnU-Net layouts)")
        raise InputError(root, f"a {task} task needs a label table",
                         "pass --labels TABLE.csv with columns case,label")
    if task not in (None, "segmentation"):
        raise InputError(root, f"a {task} task needs a label table (the masks found define "
                               "a segmentation task)", "pass --labels TABLE.csv with columns "
                                                       "case,label")
    for case in scan.cases:
        if case.label_path is None:
            raise InputError(scan.label_source or root, f"case {case.key!r} has no label",
                             "add its mask (a 'label' entry for MSD), or remove the case")
        if not case.label_path.is_file():
            raise InputError(case.label_path, f"label file missing for case {case.key!r}",
                             "add the mask, or remove the case")
        check_mask_grid(case.label_path, case.grid, case.image_paths[0])
    masks = [c.label_path for c in scan.cases]
    names = scan.label_names or mask_label_names(masks, masks[0].parent)
    return "segmentation", names, {}


def _source_case(root: Path, scan: Scan, case: ScannedCase, kind: str,
                 target: int | float | None, participant: Participant | None) -> SourceCase:
    """Build the pseudonymous record: participants.tsv first, then headers."""
    age, sex, imputed = case.age, case.sex, dict(case.imputed)
    subject_key = case.patient_key
    if participant is not None:
        if participant.age is not None:
            age = participant.age
            imputed.pop("age", None)
        if participant.sex != "unknown":
            sex = participant.sex
        subject_key = participant.subject or subject_key
    case_id = phi.case_id(case.key, case.identifiers)
    label_path = case.label_path if kind == "segmentation" else None
    label_file = None if label_path is None else Path(os.path.relpath(label_path, root)).as_posix()
    files = (*case.image_files, *([label_file] if label_file else []))
    redact = case_id != case.key or any(phi.is_identifying(f, case.identifiers)
                                        for f in files)
    if redact:
        label_file = phi.REDACTED if label_file else None
    record = CaseRecord(
        case_id=case_id,
        subject_id=phi.subject_id(subject_key) if subject_key else case_id,
        image_files=tuple(phi.REDACTED for _ in case.image_files) if redact
        else case.image_files,
        modality=case.modality, spacing=case.spacing, shape=case.shape,
        channel_names=case.channel_names, label_file=label_file, label=target,
        age=age, sex=sex, attributes=dict(case.attributes), imputed=imputed,
        source_format=scan.format)
    return SourceCase(record, case.image_paths, label_path)


def _dataset_modality(root: Path, scan: Scan) -> str:
    """The cases' modality; radiographs may mix CR and DX, other modalities may not mix."""
    counts = Counter(c.modality for c in scan.cases)
    if len(counts) > 1 and not set(counts) <= RADIOGRAPHY:
        raise InputError(root, f"cases mix modalities {dict(sorted(counts.items()))}",
                         "keep one modality per dataset")
    return min(counts, key=lambda m: (-counts[m], m))
