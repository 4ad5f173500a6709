"""Tiny DICOM and NIfTI fixtures written on the fly (pydicom, nibabel) in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"

PATIENT = {"PatientName": "Doe^Jane^Quincy", "PatientID": "PID-93127",
           "AccessionNumber": "ACC-55521", "PatientBirthDate": "19610304",
           "PatientSex": "F", "PatientAge": "045Y", "StudyDate": "20200102",
           "InstitutionName": "Saint Elsewhere Hospital"}


def _dataset(sop_class: str, modality: str, tags: dict[str, Any]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.StudyInstanceUID = tags.pop("StudyInstanceUID", "1.2.3.4")
    for key, value in tags.items():
        if value is not None:
            setattr(ds, key, value)
    return ds


def _pixels(ds: Dataset, array: np.ndarray, photometric: str = "MONOCHROME2") -> None:
    ds.set_pixel_data(np.ascontiguousarray(array.astype(np.int16)), photometric, 16,
                      generate_instance_uid=False)


def axial_affine(iop: Sequence[float], origin: Sequence[float], delta: tuple[float, float],
                 step: float) -> np.ndarray:
    """Voxel (column, row, slice) → RAS, written out independently of the reader."""
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    normal = np.cross(row, col)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = row * delta[1], col * delta[0], normal * step
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


@pytest.fixture
def ras_affine() -> Callable[..., np.ndarray]:
    return axial_affine


@pytest.fixture
def write_series() -> Callable[..., list[Path]]:
    """Write a multi-file series (volume [slices, rows, cols]) in shuffled file order."""

    def write(folder: Path, volume: np.ndarray, *, iop=(1, 0, 0, 0, 1, 0), origin=(0, 0, 0),
              delta=(1.0, 1.0), step=2.0, modality="MR", uid=None, description="T1",
              number=1, thickness=None, between=None, rescale=(1.0, 0.0), seed=0,
              patient=None, extra=None) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        uid = uid or generate_uid()
        normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        names = np.random.default_rng(seed).permutation(len(volume))
        paths = []
        for k, plane in enumerate(volume):
            tags = {**(PATIENT if patient is None else patient), "SeriesInstanceUID": uid,
                    "SeriesDescription": description, "SeriesNumber": number,
                    "InstanceNumber": int(names[k]) + 1,
                    "ImageOrientationPatient": [float(v) for v in iop],
                    "ImagePositionPatient": [float(v) for v in
                                             np.asarray(origin, float) + k * step * normal],
                    "PixelSpacing": [float(d) for d in delta], "SliceThickness": thickness,
                    "SpacingBetweenSlices": between, "RescaleSlope": rescale[0],
                    "RescaleIntercept": rescale[1], "Manufacturer": "ACME",
                    "MagneticFieldStrength": 3.0, **(extra or {})}
            ds = _dataset(MR_STORAGE if modality == "MR" else CR_STORAGE, modality, tags)
            _pixels(ds, plane)
            path = folder / f"IM{int(names[k]):04d}"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return paths

    return write


@pytest.fixture
def write_enhanced() -> Callable[..., Path]:
    """Write an Enhanced MR multi-frame file; frames stored in `order` (a permutation)."""

    def write(path: Path, volume: np.ndarray, *, order: Sequence[int], iop=(1, 0, 0, 0, 1, 0),
              origin=(0, 0, 0), delta=(1.0, 1.0), step=2.0, rescale=(2.0, -10.0)) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        ds = _dataset(ENHANCED_MR_STORAGE, "MR", {**PATIENT, "SeriesInstanceUID": generate_uid(),
                                                  "SeriesDescription": "T2 3D",
                                                  "SeriesNumber": 3})
        shared = Dataset()
        orientation, measures = Dataset(), Dataset()
        orientation.ImageOrientationPatient = [float(v) for v in iop]
        measures.PixelSpacing = [float(d) for d in delta]
        measures.SliceThickness = step
        shared.PlaneOrientationSequence = DicomSequence([orientation])
        shared.PixelMeasuresSequence = DicomSequence([measures])
        ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
        frames = []
        for k in order:
            item, position, transform = Dataset(), Dataset(), Dataset()
            position.ImagePositionPatient = [float(v) for v in
                                             np.asarray(origin, float) + k * step * normal]
            transform.RescaleSlope, transform.RescaleIntercept = rescale
            item.PlanePositionSequence = DicomSequence([position])
            item.PixelValueTransformationSequence = DicomSequence([transform])
            frames.append(item)
        ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
        _pixels(ds, volume[list(order)])
        ds.save_as(path, enforce_file_format=True)
        return path

    return write


@pytest.fixture
def write_multiframe() -> Callable[..., Path]:
    """Write a classic multi-frame MR file: frames evenly spaced from one IPP."""

    def write(path: Path, volume: np.ndarray, *, iop=(1, 0, 0, 0, 1, 0), origin=(0, 0, 0),
              delta=(1.0, 1.0), between: float | None = 3.0, thickness: float | None = None,
              ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = _dataset(MR_STORAGE, "MR", {
            **PATIENT, "SeriesInstanceUID": generate_uid(), "SeriesNumber": 4,
            "ImageOrientationPatient": [float(v) for v in iop],
            "ImagePositionPatient": [float(v) for v in origin],
            "PixelSpacing": [float(d) for d in delta], "SpacingBetweenSlices": between,
            "SliceThickness": thickness})
        _pixels(ds, volume)
        ds.save_as(path, enforce_file_format=True)
        return path

    return write


@pytest.fixture
def write_radiograph() -> Callable[..., Path]:
    """Write a CR/DX projection image without patient geometry."""

    def write(path: Path, image: np.ndarray, *, modality="CR", photometric="MONOCHROME2",
              spacing_keyword: str | None = "ImagerPixelSpacing", patient=None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tags = {**(PATIENT if patient is None else patient), "SeriesInstanceUID": generate_uid(),
                "SeriesNumber": 1, "ViewPosition": "PA", "PatientOrientation": ["P", "F"],
                "Manufacturer": "ACME"}
        if spacing_keyword:
            tags[spacing_keyword] = [0.2, 0.2]
        ds = _dataset(CR_STORAGE if modality == "CR" else DX_STORAGE, modality, tags)
        _pixels(ds, image, photometric)
        ds.save_as(path, enforce_file_format=True)
        return path

    return write


@pytest.fixture
def write_nifti() -> Callable[..., Path]:
    def write(path: Path, data: np.ndarray, affine: np.ndarray | None = None,
              units: str | None = "mm") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
        if units:
            img.header.set_xyzt_units(units)
        nib.save(img, path)
        return path

    return write
