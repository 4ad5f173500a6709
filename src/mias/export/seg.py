"""DICOM SEG for DICOM input (highdicom): what a PACS displays over the source series.

A SEG is meant to go back to the PACS the scans came from, so it must reference the source
series: its study, frame of reference, series and instance UIDs are copied from them — the
one place MIAS writes a source UID. Everything else that identifies the patient is not:
the patient module carries the case's pseudonymous subject id instead of the name and id,
no birth date, accession number, referring physician or study id, and the object states
`PatientIdentityRemoved`. `mias predict --no-seg` writes none.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from mias import __version__
from mias.atomic import atomic_file

SEG_SUFFIX = ".seg.dcm"
# Copied by highdicom from the source into the SEG's patient and study modules; replaced.
_BLANKED = ("PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge",
            "AccessionNumber", "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime",
            "OtherPatientIDs", "OtherPatientNames", "IssuerOfPatientID")
# Not needed to display the SEG, and identifying (Annex E): removed from the SEG outright.
_REMOVED = ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
            "StationName", "OperatorsName", "PerformingPhysicianName", "PatientAddress",
            "PatientTelephoneNumbers", "MilitaryRank", "EthnicGroup")
_ANATOMY = hd.sr.CodedConcept("91723000", "SCT", "Anatomical structure")
_ALGORITHM = hd.AlgorithmIdentificationSequence(
    name="MIAS", version=__version__, family=codes.cid7162.ArtificialIntelligence)
DEIDENTIFICATION = "MIAS predict: pseudonymised patient; source UIDs retained"
# PS3.16 CID 7050: the basic confidentiality profile, with its retain-UIDs option.
_PROFILE_CODES = (("113100", "Basic Application Confidentiality Profile"),
                  ("113110", "Retain UIDs Option"))


def deidentified(source: Dataset, pseudonym: str) -> Dataset:
    """A header-only copy of a source image whose patient/study identity is replaced."""
    ds = copy.deepcopy(source)
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PatientName = f"{pseudonym}^"  # one-component name, stated as such
    ds.PatientID = pseudonym
    for keyword in _BLANKED:
        if keyword in ds:
            setattr(ds, keyword, "")
    _remove(ds)
    return ds


def _remove(ds: Dataset) -> None:
    for keyword in _REMOVED:
        if keyword in ds:
            delattr(ds, keyword)


def write_seg(path: Path, frames: np.ndarray, sources: Sequence[Dataset],
              label_names: Sequence[str], pseudonym: str) -> Path:
    """Write a BINARY SEG of the label map `frames` ([frames, rows, cols], 0 = background),
    frame i lying on `sources[i]` (or on frame i of a single multi-frame source)."""
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i, segment_label=str(name)[:64],
            segmented_property_category=_ANATOMY, segmented_property_type=_ANATOMY,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=_ALGORITHM)
        for i, name in enumerate(label_names) if i > 0]
    images = [deidentified(s, pseudonym) for s in sources]
    seg = hd.seg.Segmentation(
        source_images=images, pixel_array=np.ascontiguousarray(frames, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="MIAS",
        manufacturer_model_name="mias predict", software_versions=__version__,
        device_serial_number="none", omit_empty_frames=False,
        series_description="MIAS segmentation")
    _remove(seg)
    seg.PatientIdentityRemoved = "YES"
    seg.DeidentificationMethod = DEIDENTIFICATION
    seg.DeidentificationMethodCodeSequence = [
        hd.sr.CodedConcept(code, "DCM", meaning) for code, meaning in _PROFILE_CODES]
    with atomic_file(path) as tmp:
        seg.save_as(tmp)
    return path
