"""What every synthetic task provides, independent of how it is written to disk.

A generator turns one `Scan` (who, when, which seeds) into one `SyntheticCase` (arrays in
RAS, the table target, acquisition attributes); the layout writers never see how the
anatomy was made, so every task is available in every layout.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class TaskInfo:
    """The dataset-level description a layout writer needs (dataset.json, DICOM tags)."""

    name: str                          # dataset.json "name", e.g. "Hippocampus"
    prefix: str                        # case-key prefix, e.g. "hippocampus" → hippocampus_001
    description: str
    channels: tuple[str, ...]          # channel (MSD "modality") names, in channel order
    labels: tuple[str, ...]            # label names by value; index 0 is "background"
    target_file: str                   # `case,label` table written at the dataset root
    spatial_dims: int
    dicom_modality: str                # "MR", or "CR"/"DX" chosen per case for X-ray
    body_part: str
    channel_timing: tuple[tuple[float, float], ...] = ()   # MR (TR, TE) in ms per channel


@dataclass(frozen=True)
class Subject:
    """One synthetic person. The identifiers are fake and exist only to be planted in DICOM."""

    index: int
    subject_id: str                    # pseudonymous key (participants.tsv `subject`)
    sex: str
    birth_date: dt.date
    patient_name: str
    patient_id: str
    seed: tuple[int, ...]              # anatomy seed: shared by all scans of the subject
    # Stratified uniform draw in [0, 1): across a cohort of n subjects exactly one falls in
    # each [k/n, (k+1)/n), so a subject-level trait "stratum < p" hits p·n subjects (±1)
    # even in a small cohort, where independent coin flips could miss badly.
    stratum: float


@dataclass(frozen=True)
class Scan:
    """One imaging session of a subject: the unit that becomes one case."""

    index: int
    case_id: str
    subject: Subject
    visit: int                         # 0 baseline, 1 follow-up
    age: float                         # exact age in years on `study_date`
    study_date: dt.date
    accession_number: str
    institution: tuple[str, str]       # (name, address): fake, for PHI tests only
    seed: tuple[int, ...]              # acquisition seed: noise, scanner, field of view

    def subject_rng(self) -> np.random.Generator:
        """The subject's anatomy stream: a follow-up scan shows the same person."""
        return np.random.default_rng(self.subject.seed)

    def scan_rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @property
    def age_years(self) -> int:
        """Completed years on the study date, as DICOM PatientAge and BIDS tables give it."""
        return int(np.floor(self.age))


@dataclass(frozen=True)
class SyntheticCase:
    """One generated case in memory.

    `image` is [C, *spatial] in the integer type the scanner would store; `label` is the
    uint8 mask on the same grid; `affine` maps voxel indices to RAS millimetres (for a 2D
    projection: world x = patient right, world y = patient head); `target` is the value of
    the task's `case,label` table; `acquisition` holds scanner attributes for DICOM tags.
    """

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    target: float | int
    acquisition: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spacing(self) -> tuple[float, ...]:
        dims = self.label.ndim
        return tuple(float(np.linalg.norm(self.affine[:dims, i])) for i in range(dims))


class CaseGenerator(ABC):
    """A task's case factory: demographics policy plus `generate(scan)`."""

    info: ClassVar[TaskInfo]
    male_fraction: ClassVar[float] = 0.5

    def sample_age(self, rng: np.random.Generator) -> float:
        """Baseline age in years; the default spans the adult range evenly."""
        return float(rng.uniform(18.0, 88.0))

    @abstractmethod
    def generate(self, scan: Scan) -> SyntheticCase:
        """Make the case of `scan`; the same scan gives byte-identical arrays."""
