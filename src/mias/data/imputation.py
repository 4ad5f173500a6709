"""Metadata imputation: every rule is named, documented and recorded where it was applied.

A value that was not read from the data must never pass for one that was: each imputed
attribute gets `record.imputed[attribute] = <rule>`, which the demographic report and the
validation plan's data requirements show. Case-level rules (spacing from slice positions,
age from dates, modality from dataset.json) are applied by the readers, which hold the
headers; the dataset-level rules below need the whole cohort and run in `impute`.

Rules (the recorded text is the constant's value):
- spacing: the slice spacing is derived from ImagePositionPatient when the headers'
  SpacingBetweenSlices/SliceThickness are missing or disagree with the positions; a
  classic multi-frame without SpacingBetweenSlices uses SliceThickness; a radiograph
  without PixelSpacing uses ImagerPixelSpacing, else a nominal 1 mm; a NIfTI without
  xyzt_units is assumed to be in mm.
- orientation: an image without ImageOrientationPatient/ImagePositionPatient (a
  projection radiograph) gets a nominal axis-aligned orientation.
- age: PatientAge missing → StudyDate − PatientBirthDate (the birth date is not kept);
  still missing → median of the case's modality group. A median age is a statistic of the
  cohort, not of the patient: it is only sound as a flagged value.
- sex: never imputed (the cohort's mode says nothing about one patient) → "unknown",
  flagged.
- manufacturer: mode of the modality group; field_strength (MR only): mode of the
  modality+manufacturer group; slice_thickness: = slice spacing.
- modality: from dataset.json channel names (MSD / nnU-Net), or "OT" for NIfTI, which has
  no modality field.
- voxels: non-finite values → the channel's minimum finite value (in `load_case`, counted
  in `nonfinite_voxels`); an all-non-finite channel is an input error.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mias.records import CaseRecord
from mias.registry import Registry

SPACING_FROM_POSITIONS = "derived from ImagePositionPatient"
SPACING_FROM_THICKNESS = "slice spacing = SliceThickness (no positions, no SpacingBetweenSlices)"
SPACING_FROM_IMAGER = "ImagerPixelSpacing (detector plane, magnification not corrected)"
SPACING_NOMINAL = "nominal 1 mm (no PixelSpacing or ImagerPixelSpacing)"
SPACING_UNITS_ASSUMED = "units assumed mm (NIfTI xyzt_units unknown)"
SPACING_PIXDIM_ZERO = "nominal 1 mm (NIfTI pixdim 0: no voxel size stated)"
#: Spacings that no scan stated: sizes computed from them would be invented.
SPACING_UNSTATED = frozenset({SPACING_NOMINAL, SPACING_PIXDIM_ZERO})
ORIENTATION_NOMINAL = "nominal (no ImageOrientationPatient/ImagePositionPatient)"
AGE_FROM_DATES = "StudyDate − PatientBirthDate (birth date not kept)"
AGE_MEDIAN = "median of modality group"
SEX_UNKNOWN = "unknown (no sound rule)"
MANUFACTURER_MODE = "mode of modality group"
FIELD_STRENGTH_MODE = "mode of modality+manufacturer group"
SLICE_THICKNESS_FROM_SPACING = "= slice spacing"
MODALITY_FROM_DATASET_JSON = "from dataset.json"
MODALITY_UNKNOWN = "OT (NIfTI carries no modality)"

DatasetRule = Callable[[list[CaseRecord]], list[CaseRecord]]
RULES: Registry[DatasetRule] = Registry("imputation rule")


def register_rule(name: str) -> Callable[[DatasetRule], DatasetRule]:
    """Register a dataset-level rule; `impute` applies rules in registration order."""
    return RULES.register(name)


def available_rules() -> list[str]:
    return RULES.names()


def create_rule(name: str) -> DatasetRule:
    return RULES.get(name)


def impute(records: Sequence[CaseRecord], rules: Sequence[str] | None = None) -> list[CaseRecord]:
    """Apply the dataset-level rules (all registered ones by default) to every record.

    Idempotent: a value already present, read or imputed, is never replaced.
    """
    out = list(records)
    for name in available_rules() if rules is None else rules:
        out = create_rule(name)(out)
    return out


def with_attribute(record: CaseRecord, attribute: str, value: Any, rule: str) -> CaseRecord:
    """A copy of `record` whose acquisition attribute was imputed by `rule`."""
    return replace(record, attributes={**record.attributes, attribute: value},
                   imputed={**record.imputed, attribute: rule})


def _mode(values: Sequence[Any]) -> Any:
    """Most frequent value; ties go to the smallest, so the result never depends on order."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], str(v)))


def _groups(records: Sequence[CaseRecord],
            key: Callable[[CaseRecord], Hashable]) -> dict[Hashable, list[int]]:
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        groups[key(rec)].append(i)
    return groups


def _fill_attribute_by_mode(records: list[CaseRecord], attribute: str, rule: str,
                            key: Callable[[CaseRecord], Hashable],
                            applies: Callable[[CaseRecord], bool] = lambda r: True,
                            ) -> list[CaseRecord]:
    out = list(records)
    for members in _groups(records, key).values():
        known = [records[i].attributes.get(attribute) for i in members]
        known = [v for v in known if v is not None]
        if not known:
            continue
        value = _mode(known)
        for i in members:
            if records[i].attributes.get(attribute) is None and applies(records[i]):
                out[i] = with_attribute(records[i], attribute, value, rule)
    return out


@register_rule("slice_thickness")
def impute_slice_thickness(records: list[CaseRecord]) -> list[CaseRecord]:
    """Missing SliceThickness of a volume = its slice spacing (contiguous slices)."""
    return [with_attribute(r, "slice_thickness", r.attributes["slice_spacing"],
                           SLICE_THICKNESS_FROM_SPACING)
            if r.attributes.get("slice_thickness") is None
            and r.attributes.get("slice_spacing") is not None else r
            for r in records]


@register_rule("age")
def impute_age(records: list[CaseRecord]) -> list[CaseRecord]:
    """Missing age = median age of the modality group (flagged; left missing if none known)."""
    out = list(records)
    for members in _groups(records, lambda r: r.modality).values():
        ages = [records[i].age for i in members if records[i].age is not None]
        if not ages:
            continue
        median = float(np.median(ages))
        for i in members:
            if records[i].age is None:
                out[i] = replace(records[i], age=median,
                                 imputed={**records[i].imputed, "age": AGE_MEDIAN})
    return out


@register_rule("sex")
def impute_sex(records: list[CaseRecord]) -> list[CaseRecord]:
    """Sex is not imputed: an unknown sex stays "unknown" and is flagged as such."""
    return [replace(r, imputed={**r.imputed, "sex": SEX_UNKNOWN})
            if r.sex == "unknown" and "sex" not in r.imputed else r
            for r in records]


@register_rule("manufacturer")
def impute_manufacturer(records: list[CaseRecord]) -> list[CaseRecord]:
    """Missing manufacturer = mode of the modality group."""
    return _fill_attribute_by_mode(records, "manufacturer", MANUFACTURER_MODE,
                                   key=lambda r: r.modality)


@register_rule("field_strength")
def impute_field_strength(records: list[CaseRecord]) -> list[CaseRecord]:
    """Missing MR field strength = mode of the modality+manufacturer group (MR only)."""
    return _fill_attribute_by_mode(
        records, "field_strength", FIELD_STRENGTH_MODE,
        key=lambda r: (r.modality, r.attributes.get("manufacturer")),
        applies=lambda r: r.modality == "MR")
