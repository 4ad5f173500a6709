"""The shared record types: one case (`CaseRecord`) and one task (`TaskSpec`).

Every stage reads and writes these through `to_dict`/`from_dict`, so a manifest on disk is
the only hand-over between stages. A `CaseRecord` never holds a direct identifier (name,
patient id, birth date, accession number, institution address): readers pseudonymise
before a record is built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

SCHEMA_VERSION = 1
# The stage records later stages read (and `mias report` reads without torch):
# RUN/search/result.json, RUN/final/metrics.json, RUN/eval/metrics.json, RUN/export/parity.json
RESULT_SCHEMA_VERSION = 1
METRICS_SCHEMA_VERSION = 1
EVAL_SCHEMA_VERSION = 1
PARITY_SCHEMA_VERSION = 1

TaskKind = Literal["segmentation", "classification", "regression"]
Sex = Literal["M", "F", "O", "unknown"]
TASK_KINDS: tuple[str, ...] = ("segmentation", "classification", "regression")
# The target metrics each task kind supports; the first is its default.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "segmentation": ("dice", "f_beta", "volume_error"),
    "classification": ("f_beta",),
    "regression": ("mae",),
}
SEXES: tuple[str, ...] = ("M", "F", "O", "unknown")


@dataclass(frozen=True)
class CaseRecord:
    """One case: where its data is, what it is, who it came from (pseudonymously).

    `image_files` are paths relative to the dataset root (a DICOM series is its folder).
    `imputed` maps each attribute whose value was not read but imputed to the rule used.
    `attributes` holds acquisition attributes (slice_thickness, manufacturer,
    manufacturer_model, field_strength, view_position, ...), `None` when unknown.
    """

    case_id: str
    subject_id: str
    image_files: tuple[str, ...]
    modality: str
    spacing: tuple[float, ...]
    shape: tuple[int, ...]
    orientation: str = "RAS"
    channel_names: tuple[str, ...] = ("image",)
    label_file: str | None = None
    label: int | float | None = None
    age: float | None = None
    sex: str = "unknown"
    attributes: dict[str, Any] = field(default_factory=dict)
    imputed: dict[str, str] = field(default_factory=dict)
    nonfinite_voxels: int = 0
    source_format: str = "nifti"

    def __post_init__(self) -> None:
        if self.sex not in SEXES:
            raise ValueError(f"sex must be one of {SEXES}, got {self.sex!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("image_files", "spacing", "shape", "channel_names"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseRecord:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["image_files"] = tuple(kw["image_files"])
        kw["spacing"] = tuple(float(s) for s in kw["spacing"])
        kw["shape"] = tuple(int(s) for s in kw["shape"])
        if "channel_names" in kw:
            kw["channel_names"] = tuple(kw["channel_names"])
        return cls(**kw)


@dataclass(frozen=True)
class TaskSpec:
    """What the network must do: the contract between data preparation and the search.

    `input_shape` is spatial only (channels are `in_channels`); `spacing` is the target
    spacing (mm) after resampling; `target_metric` names the clinical metric the search
    optimises (e.g. "dice", "f_beta" with `beta`, "mae").
    """

    kind: str
    spatial_dims: int
    in_channels: int
    input_shape: tuple[int, ...]
    num_classes: int
    label_names: tuple[str, ...]
    modality: str
    spacing: tuple[float, ...]
    channel_names: tuple[str, ...] = ("image",)
    target_metric: str = "dice"
    beta: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind must be one of {TASK_KINDS}, got {self.kind!r}")
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.input_shape) != self.spatial_dims or len(self.spacing) != self.spatial_dims:
            raise ValueError("input_shape and spacing need one entry per spatial axis")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("input_shape", "label_names", "spacing", "channel_names"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["input_shape"] = tuple(int(s) for s in kw["input_shape"])
        kw["spacing"] = tuple(float(s) for s in kw["spacing"])
        kw["label_names"] = tuple(kw["label_names"])
        if "channel_names" in kw:
            kw["channel_names"] = tuple(kw["channel_names"])
        return cls(**kw)
