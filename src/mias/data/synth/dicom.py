"""The DICOM layout: `DATA/<case>/` with one series per channel and one file per slice.

Geometry follows the standard: NIfTI affines are RAS, DICOM patient coordinates are LPS,
pixel (row r, column c) of a slice lies at IPP + c·Δc·X + r·Δr·Y. Slices are stored in the
order a reader gets by sorting their positions along X × Y, and the masks in
`DATA/labels/<case>.nii.gz` are on exactly that grid. File names are shuffled, so only the
headers give the order. Demographic and acquisition tags are left out of a seeded fraction
of cases, and fake direct identifiers are planted in every file for PHI tests downstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from mias.data.synth.base import Scan, SyntheticCase, TaskInfo
from mias.data.synth.fields import exact_mask
from mias.data.synth.layout import LayoutWriter
from mias.data.synth.nifti import SUFFIX, save_nifti

# Fraction of cases whose tag is absent or empty, by attribute.
MISSING_FRACTIONS: dict[str, float] = {
    "age": 0.15, "sex": 0.05, "manufacturer": 0.10, "field_strength": 0.10,
    "slice_thickness": 0.10,
}
IDENTIFIER_TAGS: tuple[str, ...] = ("PatientName", "PatientID", "PatientBirthDate",
                                    "AccessionNumber", "InstitutionName", "InstitutionAddress")
SOP_CLASSES = {"MR": MRImageStorage, "CR": ComputedRadiographyImageStorage,
               "DX": DigitalXRayImageStorageForPresentation}
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class DicomWriter(LayoutWriter):
    """DICOM series per case; segmentation masks as NIfTI in the reconstructed grid."""

    writes_participants = False

    def __init__(self, root: Path, info: TaskInfo, scans: Sequence[Scan], seed: int) -> None:
        super().__init__(root, info, scans, seed)
        rng = np.random.default_rng([seed, 4])
        applies = MISSING_FRACTIONS if info.spatial_dims == 3 else {
            k: v for k, v in MISSING_FRACTIONS.items() if k in ("age", "sex", "manufacturer")}
        self.missing = {name: exact_mask(len(scans), fraction, rng)
                        for name, fraction in applies.items()}

    def add(self, scan: Scan, case: SyntheticCase) -> None:
        folder = self.root / "DATA" / scan.case_id
        folder.mkdir(parents=True)
        missing = {name for name, mask in self.missing.items() if mask[scan.index]}
        uid = _UidFactory(self.seed, len(self.scans), scan)
        common = _common_tags(scan, case, self.info, missing, uid)
        if self.info.spatial_dims == 2:
            _save(folder / "IM00000.dcm",
                  _dataset({**common, **_projection_tags(case, self.info, uid)}))
            return
        image, label, affine = reader_grid(case.image, case.label, case.affine)
        names = np.random.default_rng([self.seed, 5, scan.index]).permutation(
            image.shape[0] * image.shape[-1])
        for channel, volume in enumerate(image):
            ds = _dataset({**common, **_series_tags(self.info, channel, missing, affine, uid,
                                                    case.acquisition["field_strength"])})
            for k in range(volume.shape[-1]):
                ds.update(_slice_tags(volume[..., k], k, affine, uid, channel))
                _save(folder / f"IM{names[channel * volume.shape[-1] + k]:05d}.dcm", ds)
        save_nifti(self.root / "DATA" / "labels" / f"{scan.case_id}{SUFFIX}", label, affine)

    def close(self) -> None:
        """Nothing dataset-level: a DICOM folder describes itself through its headers."""


def reader_grid(image: np.ndarray, label: np.ndarray,
                affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reverse the slice axis if needed so that slices ascend along X × Y (the reader's order)."""
    lps = RAS_TO_LPS @ affine
    normal = np.cross(lps[:3, 0], lps[:3, 1])
    if float(np.dot(normal, lps[:3, 2])) >= 0.0:
        return image, label, affine
    flip = np.eye(4)
    flip[2, 2], flip[2, 3] = -1.0, label.shape[2] - 1
    return image[..., ::-1], label[..., ::-1], affine @ flip


def planted_identifiers(out: str | Path) -> set[str]:
    """Every direct-identifier value planted in the DICOM headers under `out` (for PHI tests)."""
    found: set[str] = set()
    for path in sorted(Path(out).rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(IDENTIFIER_TAGS))
        found.update(str(ds[tag].value) for tag in IDENTIFIER_TAGS
                     if tag in ds and str(ds[tag].value))
    return found


class _UidFactory:
    """Deterministic UIDs: the same seed, cohort and case give the same UIDs."""

    def __init__(self, seed: int, cases: int, scan: Scan) -> None:
        self.sources = [str(seed), str(cases), scan.case_id, *map(str, scan.seed)]

    def __call__(self, *parts: object) -> str:
        return generate_uid(entropy_srcs=[*self.sources, *map(str, parts)])


def _common_tags(scan: Scan, case: SyntheticCase, info: TaskInfo, missing: set[str],
                 uid: _UidFactory) -> dict[str, Any]:
    """Patient, study and equipment tags shared by every file of a case."""
    acq = case.acquisition
    modality = acq.get("modality", info.dicom_modality)
    date = scan.study_date.strftime("%Y%m%d")
    tags: dict[str, Any] = {
        "SOPClassUID": SOP_CLASSES[modality], "Modality": modality,
        "PatientName": scan.subject.patient_name, "PatientID": scan.subject.patient_id,
        "PatientBirthDate": scan.subject.birth_date.strftime("%Y%m%d"),
        "PatientSex": "" if "sex" in missing else scan.subject.sex,
        "StudyInstanceUID": uid("study"), "StudyID": "1", "StudyDate": date,
        "StudyTime": f"{8 + scan.index % 10:02d}{(7 * scan.index) % 60:02d}00",
        "StudyDescription": f"{info.body_part} {modality}", "AccessionNumber":
            scan.accession_number, "ReferringPhysicianName": "",
        "InstitutionName": scan.institution[0], "InstitutionAddress": scan.institution[1],
        "Manufacturer": "" if "manufacturer" in missing else acq["manufacturer"],
        "BodyPartExamined": info.body_part, "ContentDate": date,
        "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
    }
    if "age" not in missing:
        tags["PatientAge"] = f"{scan.age_years:03d}Y"
    if "manufacturer" not in missing:
        tags["ManufacturerModelName"] = acq["manufacturer_model"]
    return tags


def _series_tags(info: TaskInfo, channel: int, missing: set[str], affine: np.ndarray,
                 uid: _UidFactory, field_strength: float) -> dict[str, Any]:
    """Tags of one MR channel series: sequence, geometry shared by its slices."""
    lps = RAS_TO_LPS @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    tr, te = info.channel_timing[channel]
    tags: dict[str, Any] = {
        "SeriesInstanceUID": uid("series", channel), "SeriesNumber": channel + 1,
        "SeriesDescription": info.channels[channel], "FrameOfReferenceUID": uid("frame"),
        "PositionReferenceIndicator": "", "PatientPosition": "HFS",
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        "ScanningSequence": "SE", "SequenceVariant": "NONE", "ScanOptions": "",
        "MRAcquisitionType": "2D", "RepetitionTime": tr, "EchoTime": te, "EchoTrainLength": 1,
        "ImageOrientationPatient": _ds([*(lps[:3, 0] / spacing[0]), *(lps[:3, 1] / spacing[1])]),
        "PixelSpacing": _ds([spacing[1], spacing[0]]),
        "SliceThickness": "" if "slice_thickness" in missing else _ds([spacing[2]])[0],
        "BitsAllocated": 16, "BitsStored": 16, "HighBit": 15, "PixelRepresentation": 1,
    }
    if "field_strength" not in missing:
        tags["MagneticFieldStrength"] = field_strength
    return tags


def _slice_tags(pixels: np.ndarray, k: int, affine: np.ndarray, uid: _UidFactory,
                channel: int) -> dict[str, Any]:
    """Tags of one slice: where it is and its pixels ((column, row) array → rows × columns)."""
    lps = RAS_TO_LPS @ affine
    position = lps[:3, 3] + k * lps[:3, 2]
    normal = np.cross(lps[:3, 0], lps[:3, 1])
    return {"SOPInstanceUID": uid("slice", channel, k), "InstanceNumber": k + 1,
            "ImagePositionPatient": _ds(position),
            "SliceLocation": _ds([np.dot(position, normal / np.linalg.norm(normal))])[0],
            "Rows": pixels.shape[1], "Columns": pixels.shape[0],
            "PixelData": np.ascontiguousarray(pixels.T).astype("<i2").tobytes()}


def _projection_tags(case: SyntheticCase, info: TaskInfo, uid: _UidFactory) -> dict[str, Any]:
    """Tags of a single CR/DX image: view, orientation, detector and pixel spacing."""
    acq = case.acquisition
    spacing = case.spacing
    pixels = case.image[0]
    tags: dict[str, Any] = {
        "SeriesInstanceUID": uid("series", 0), "SeriesNumber": 1,
        "SeriesDescription": info.channels[0], "SOPInstanceUID": uid("image"),
        "InstanceNumber": 1, "ViewPosition": acq["view_position"],
        "PatientOrientation": list(acq["patient_orientation"]),
        "ImageType": ["ORIGINAL", "PRIMARY"], "KVP": 120.0 if acq["view_position"] == "PA"
        else 90.0,
        "PixelSpacing": _ds([spacing[1], spacing[0]]),
        "ImagerPixelSpacing": _ds([acq["imager_pixel_spacing"]] * 2),
        "Rows": pixels.shape[1], "Columns": pixels.shape[0],
        "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0,
        "PixelData": np.ascontiguousarray(pixels.T).astype("<u2").tobytes(),
    }
    if acq["modality"] == "DX":
        tags |= {"PresentationIntentType": "FOR PRESENTATION", "DetectorType": "DIRECT",
                 "ImageLaterality": "U", "BurnedInAnnotation": "NO",
                 "PresentationLUTShape": "IDENTITY", "PixelIntensityRelationship": "LOG",
                 "PixelIntensityRelationshipSign": 1, "RescaleIntercept": 0.0,
                 "RescaleSlope": 1.0, "RescaleType": "US"}
    return tags


def _ds(values: Iterable[float]) -> list[float]:
    """Decimal-string-safe numbers (≤ 16 characters), without negative zeros."""
    return [round(float(v), 6) + 0.0 for v in values]


def _dataset(tags: dict[str, Any]) -> Dataset:
    ds = Dataset()
    ds.update(tags)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _save(path: Path, ds: Dataset) -> None:
    """Write a Part 10 file; the file meta follows the (possibly updated) SOP instance."""
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
