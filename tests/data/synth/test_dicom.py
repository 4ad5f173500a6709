from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from mias.data.synth import planted_identifiers
from mias.data.synth.dicom import IDENTIFIER_TAGS, SOP_CLASSES, reader_grid

Make = Callable[..., Path]


def read_series(case_dir: Path) -> dict[str, list[pydicom.Dataset]]:
    """The DICOM files of a case folder grouped by series description."""
    series: dict[str, list[pydicom.Dataset]] = {}
    for path in case_dir.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        series.setdefault(str(ds.SeriesDescription), []).append(ds)
    return series


def reconstruct(slices: list[pydicom.Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """An independent DICOM reader: sort by position along the normal, stack, LPS → RAS.

    Returns the volume indexed (column, row, slice) and its RAS affine.
    """
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    x, y = iop[:3], iop[3:]
    normal = np.cross(x, y)
    ordered = sorted(slices, key=lambda ds: float(np.dot(normal,
                                                         np.array(ds.ImagePositionPatient))))
    volume = np.stack([ds.pixel_array.T for ds in ordered], axis=-1)
    first = np.array(ordered[0].ImagePositionPatient, dtype=float)
    last = np.array(ordered[-1].ImagePositionPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in ordered[0].PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0] = x * col_spacing
    lps[:3, 1] = y * row_spacing
    lps[:3, 2] = (last - first) / max(1, len(ordered) - 1)
    lps[:3, 3] = first
    return volume, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _canonical(image: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(nib.as_closest_canonical(image).dataobj)


def test_reconstructed_volume_matches_the_nifti_source(make_dataset: Make) -> None:
    dicom = make_dataset("braintumour", "dicom", cases=3, seed=5)
    msd = make_dataset("braintumour", "nifti", cases=3, seed=5)
    case = "braintumour_002"
    series = read_series(dicom / "DATA" / case)
    assert sorted(series) == ["FLAIR", "T1w", "T2w", "t1gd"]
    source = nib.load(msd / "imagesTr" / f"{case}.nii.gz")
    mask = nib.load(dicom / "DATA" / "labels" / f"{case}.nii.gz")
    for channel, name in enumerate(("FLAIR", "T1w", "t1gd", "T2w")):
        assert {int(ds.SeriesNumber) for ds in series[name]} == {channel + 1}
        volume, affine = reconstruct(series[name])
        assert np.allclose(affine, mask.affine, atol=1e-4)
        rebuilt = nib.Nifti1Image(volume, affine)
        expected = nib.Nifti1Image(np.asanyarray(source.dataobj)[..., channel], source.affine)
        assert np.array_equal(_canonical(rebuilt), _canonical(expected))
        assert np.allclose(nib.as_closest_canonical(rebuilt).affine,
                           nib.as_closest_canonical(expected).affine, atol=1e-4)
    label = nib.load(msd / "labelsTr" / f"{case}.nii.gz")
    assert np.array_equal(_canonical(mask), _canonical(label))


def test_reader_grid_reverses_slices_that_descend_along_the_normal() -> None:
    affine = np.diag([1.0, 1.0, -2.0, 1.0])          # RAS; slices run towards the feet
    affine[:3, 3] = [-3.0, -4.0, 10.0]
    image = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    label = (image[0] % 3).astype(np.uint8)
    flipped, flipped_label, grid = reader_grid(image, label, affine)
    assert np.array_equal(flipped, image[..., ::-1])
    assert np.array_equal(flipped_label, label[..., ::-1])
    assert np.allclose(grid[:3, 2], [0.0, 0.0, 2.0])
    # Voxel (i, j, k) of the new grid is where voxel (i, j, K-1-k) of the old one was.
    assert np.allclose(grid @ [1, 2, 0, 1], affine @ [1, 2, 4, 1])
    unchanged = reader_grid(image, label, np.eye(4))
    assert unchanged[0] is image and np.array_equal(unchanged[2], np.eye(4))


def test_files_are_valid_part10_with_shuffled_names(make_dataset: Make) -> None:
    root = make_dataset("hippocampus", "dicom", cases=20)
    case_dir = root / "DATA" / "hippocampus_001"
    paths = sorted(case_dir.glob("*.dcm"))
    datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == MRImageStorage and ds.Modality == "MR"
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert [int(ds.InstanceNumber) for ds in datasets] != sorted(
        int(ds.InstanceNumber) for ds in datasets)
    label = nib.load(root / "DATA" / "labels" / "hippocampus_001.nii.gz")
    assert label.shape == (datasets[0].Columns, datasets[0].Rows, len(datasets))
    assert (root / "labels_volume.csv").exists() and not (root / "participants.tsv").exists()


def _case_headers(root: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(next((root / "DATA" / d.name).glob("*.dcm")),
                            stop_before_pixels=True)
            for d in sorted((root / "DATA").iterdir()) if d.name != "labels"]


def test_missing_tag_fractions(make_dataset: Make) -> None:
    headers = _case_headers(make_dataset("hippocampus", "dicom", cases=20))

    def absent(tag: str) -> int:
        return sum(tag not in ds or ds[tag].value in (None, "") for ds in headers)

    assert len(headers) == 20
    assert absent("PatientAge") == 3 and absent("PatientSex") == 1
    assert absent("Manufacturer") == 2 and absent("MagneticFieldStrength") == 2
    assert absent("SliceThickness") == 2
    ages = [ds.PatientAge for ds in headers if "PatientAge" in ds]
    assert all(re.fullmatch(r"0[1-9]\dY", a) for a in ages)


def test_identifiers_are_planted_only_in_headers(make_dataset: Make) -> None:
    root = make_dataset("hippocampus", "dicom", cases=20)
    planted = planted_identifiers(root)
    for ds in _case_headers(root):
        for tag in IDENTIFIER_TAGS:
            assert str(ds[tag].value) in planted
    assert any(re.fullmatch(r"[A-Z]+\^[A-Z]+", v) for v in planted)
    assert any(re.fullmatch(r"PID\d{6}", v) for v in planted)
    for path in root.rglob("*"):
        if path.is_file() and path.suffix != ".dcm":
            text = path.read_bytes().decode("latin-1")
            assert not any(value in text for value in planted), path


def test_follow_up_shares_patient_id(make_dataset: Make) -> None:
    headers = _case_headers(make_dataset("hippocampus", "dicom", cases=20))
    ids = [ds.PatientID for ds in headers]
    assert len(set(ids)) == 18
    repeated = {i for i in ids if ids.count(i) == 2}
    births = {ds.PatientBirthDate for ds in headers if ds.PatientID in repeated}
    assert len(births) == len(repeated)


def test_xray_dicom(make_dataset: Make) -> None:
    root = make_dataset("xray", "dicom", cases=12)
    headers = [pydicom.dcmread(p) for p in sorted((root / "DATA").glob("*/*.dcm"))]
    assert len(headers) == 12 and not (root / "DATA" / "labels").exists()
    for ds in headers:
        assert ds.SOPClassUID == SOP_CLASSES[ds.Modality]
        assert ds.ViewPosition in ("PA", "AP") and ds.SeriesDescription == "X-ray"
        assert list(ds.PatientOrientation) in (["L", "F"], ["R", "F"], ["L", "H"])
        assert ds.pixel_array.shape == (128, 128) and ds.BitsStored == 12
    assert {ds.Modality for ds in headers} == {"CR", "DX"}


@pytest.mark.parametrize("seed", [0, 1])
def test_uids_are_deterministic_per_seed(tmp_path: Path, seed: int) -> None:
    from mias.data.synth import synthesize

    def uids(name: str, s: int) -> set[str]:
        root = synthesize("xray", tmp_path / name, cases=2, seed=s, fmt="dicom")
        return {str(pydicom.dcmread(p).SOPInstanceUID) for p in root.rglob("*.dcm")}

    first = uids("a", seed)
    assert first == uids("b", seed)
    assert first.isdisjoint(uids("c", seed + 10))
