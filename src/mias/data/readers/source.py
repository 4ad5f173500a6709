"""The readers' hand-over types: what `discover` finds and what `load_case` decodes.

`SourceCase` pairs the pseudonymous `CaseRecord` (safe to write anywhere) with the absolute
paths needed to read the case (never written out). `ScannedCase` is the readers' internal
draft of a case, before labels, demographics tables and pseudonymisation are applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mias.data.phi import DEIDENTIFICATION
from mias.records import CaseRecord

UNLABELED = "unlabeled"
# Acquisition attributes every record carries (None when unknown), whatever the format, so
# imputation and the demographic report see one schema.
ATTRIBUTE_KEYS = ("slice_thickness", "slice_spacing", "manufacturer", "manufacturer_model",
                  "field_strength", "view_position", "patient_orientation",
                  "series_description", "study_year")


def blank_attributes(**known: Any) -> dict[str, Any]:
    """All `ATTRIBUTE_KEYS` set to None, then the `known` ones."""
    unknown = set(known) - set(ATTRIBUTE_KEYS)
    if unknown:
        raise ValueError(f"not acquisition attributes: {sorted(unknown)}")
    return {key: known.get(key) for key in ATTRIBUTE_KEYS}


@dataclass(frozen=True)
class SourceCase:
    """One case: its pseudonymous record and where to read it."""

    record: CaseRecord
    image_paths: tuple[Path, ...]
    label_path: Path | None


@dataclass(frozen=True)
class DatasetSource:
    """A discovered dataset: format, task kind, classes, channels and cases.

    `kind` is a `TaskSpec` kind, or `UNLABELED` when nothing labels the cases (no masks, no
    table, no task asked for: e.g. scans given to `mias predict`). `warnings` lists what was
    odd but not fatal (e.g. dataset.json's numTraining disagreeing with its file list);
    `skipped_files` counts the files of the tree that were not images of the layout (e.g.
    non-DICOM files among DICOM series); `skipped_objects` counts the DICOM objects that
    could not be a case, and `broken_files` the broken files left out (`--skip-broken`),
    per reason: counts only, since file names may identify a patient;
    `deidentification` is the profile applied. `root_identifying` says the folder's own
    path holds a case's identifier or a UID, so no record may name it.
    """

    root: Path
    format: str
    cases: tuple[SourceCase, ...]
    kind: str
    label_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    modality: str
    warnings: tuple[str, ...] = ()
    skipped_files: int = 0
    skipped_objects: dict[str, int] = field(default_factory=dict)
    broken_files: dict[str, int] = field(default_factory=dict)
    deidentification: dict[str, Any] = field(default_factory=lambda: dict(DEIDENTIFICATION))
    root_identifying: bool = False

    def manifest_fields(self) -> dict[str, Any]:
        """What a manifest records about how the source was read."""
        return {"skipped_files": self.skipped_files,
                "skipped_objects": dict(self.skipped_objects),
                "broken_files": dict(self.broken_files),
                "deidentification": self.deidentification,
                # where `evaluate` finds the original scans and labels again without --data
                "data_root": None if self.root_identifying else str(self.root)}


@dataclass(frozen=True)
class LoadedCase:
    """A decoded case: float32 image [C, *spatial] in canonical RAS, optional int mask."""

    image: np.ndarray
    label: np.ndarray | None
    affine: np.ndarray
    nonfinite_voxels: int


@dataclass
class ScannedCase:
    """A reader's draft of one case: header facts plus what pseudonymisation needs.

    `key` is the raw case key (file stem or folder name: may hold an identifier);
    `aliases` are the other names a label table or mask may give the case (a DICOM case:
    its file name stem, series folder name, SeriesInstanceUID); `identifiers` are the
    direct identifiers and UIDs read from the case's headers; `patient_key` is the raw
    DICOM PatientID. None of these may reach a record unhashed, so `notes` (what was
    skipped) never name the case: `discover` prefixes them with the case id.
    `grid` is the canonical voxel grid, used to check masks and channels against.
    """

    key: str
    image_paths: tuple[Path, ...]
    image_files: tuple[str, ...]
    modality: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    grid: Any
    channel_names: tuple[str, ...]
    attributes: dict[str, Any]
    imputed: dict[str, str] = field(default_factory=dict)
    label_path: Path | None = None
    age: float | None = None
    sex: str = "unknown"
    patient_key: str | None = None
    identifiers: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    aliases: tuple[str, ...] = ()


@dataclass
class Scan:
    """What a format reader found: cases plus dataset-level facts.

    `label_names` is set when the layout declares labels (dataset.json); otherwise it is
    derived from the masks. `label_source` is the file to name in label errors.
    `skipped_files` counts files of the tree that hold no image of the layout;
    `skipped_objects` and `broken_files` count what a DICOM scan left out, per reason, and
    `broken_listing` names the broken files (for the console only, never written).
    """

    format: str
    cases: list[ScannedCase]
    channel_names: tuple[str, ...]
    label_names: tuple[str, ...] | None = None
    label_source: Path | None = None
    warnings: list[str] = field(default_factory=list)
    skipped_files: int = 0
    skipped_objects: dict[str, int] = field(default_factory=dict)
    broken_files: dict[str, int] = field(default_factory=dict)
    broken_listing: list[str] = field(default_factory=list)
