"""Bad input: every case raises `InputError` (exit code 2) naming the file and the fix."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mias.data.readers import discover, load_case
from mias.errors import InputError

VOLUME = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)


@contextlib.contextmanager
def raises(path: Path | str, match: str) -> Iterator[pytest.ExceptionInfo[InputError]]:
    """Expect an InputError (exit code 2) whose message names `path`, the problem and a fix."""
    with pytest.raises(InputError, match=match) as info:
        yield info
    assert info.value.exit_code == 2
    assert str(path) in info.value.message and "Fix:" in info.value.message


def _local_testdata(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} not installed")
    return Path(found)


def test_truncated_dicom_inside_a_series(tmp_path, write_series):
    write_series(tmp_path / "case01", VOLUME)
    bad = tmp_path / "case01" / "00017"
    shutil.copy(_local_testdata("MR_truncated.dcm"), bad)
    with raises(bad, "truncated"):
        discover(tmp_path)


def test_slice_without_pixel_data_is_named(tmp_path, write_series):
    paths = write_series(tmp_path / "case01", VOLUME)
    ds = pydicom.dcmread(paths[2])
    del ds.PixelData
    ds.save_as(paths[2], enforce_file_format=True)
    with raises(paths[2], "without pixel data"):
        discover(tmp_path)


def test_one_uid_holding_two_patients(tmp_path, write_series):
    write_series(tmp_path / "c" / "a", VOLUME[:2], uid="1.2.3.9")
    write_series(tmp_path / "c" / "b", VOLUME[2:], uid="1.2.3.9", origin=(0, 0, 4),
                 patient={"PatientID": "other-patient"})
    with raises(tmp_path / "c", "2 patients"):
        discover(tmp_path)


def test_two_patients_in_a_case_folder_of_a_multi_channel_dataset(tmp_path, write_series):
    write_series(tmp_path / "c1" / "a", VOLUME, description="T1")
    write_series(tmp_path / "c1" / "b", VOLUME, description="T2")
    write_series(tmp_path / "c2" / "a", VOLUME, description="T1")
    write_series(tmp_path / "c2" / "b", VOLUME[:, :4], description="T2", delta=(2.0, 1.0),
                 patient={"PatientID": "other-patient"})
    with raises(tmp_path / "c2", "2 patients") as info:
        discover(tmp_path)
    assert "grid" not in info.value.message


def test_off_grid_channel_in_a_multi_channel_dataset(tmp_path, write_series):
    write_series(tmp_path / "c1" / "a", VOLUME, description="T1")
    write_series(tmp_path / "c1" / "b", VOLUME, description="T2")
    write_series(tmp_path / "c2" / "a", VOLUME, description="T1")
    write_series(tmp_path / "c2" / "b", VOLUME, description="T2", origin=(5, 0, 0))
    with raises(tmp_path / "c2", "not on the grid"):
        discover(tmp_path)


def test_missing_slice(tmp_path, write_series):
    paths = write_series(tmp_path / "c", np.concatenate([VOLUME, VOLUME]), step=2.0)
    positions = {p: pydicom.dcmread(p).ImagePositionPatient[2] for p in paths}
    next(p for p in paths if positions[p] == 6.0).unlink()
    with raises(tmp_path / "c", "unevenly spaced"):
        discover(tmp_path)


def test_two_images_at_one_position(tmp_path, write_series):
    write_series(tmp_path / "c" / "s", VOLUME, uid="1.2.3.7")
    write_series(tmp_path / "c" / "s2", VOLUME, uid="1.2.3.7", seed=9)
    with raises(tmp_path / "c", "share one slice position"):
        discover(tmp_path)


def test_empty_folder(tmp_path):
    with raises(tmp_path, "empty"):
        discover(tmp_path)


def test_folder_with_no_readable_images(tmp_path):
    (tmp_path / "README.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "table.csv").write_text("a,b\n")
    with raises(tmp_path, "no readable images"):
        discover(tmp_path)


def test_missing_dataset_folder(tmp_path):
    with raises(tmp_path / "nope", "not found"):
        discover(tmp_path / "nope")


def test_corrupt_nifti(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"not gzip at all")
    with raises(tmp_path / "a.nii.gz", "not a readable NIfTI"):
        discover(tmp_path)


def test_truncated_nifti_fails_when_loaded(tmp_path, write_nifti):
    path = write_nifti(tmp_path / "a.nii.gz", np.random.default_rng(0).normal(
        size=(20, 20, 20)).astype(np.float32))
    path.write_bytes(path.read_bytes()[:2000])
    (case,) = discover(tmp_path).cases
    with raises(path, "truncated or corrupt"):
        load_case(case, ())


@pytest.mark.parametrize(("mask_shape", "mask_affine", "match"), [
    ((4, 4, 3), np.eye(4), "does not match"),
    ((5, 4, 3), np.diag([1.0, 1.0, 2.0, 1.0]), "does not match"),
])
def test_image_label_mismatch(tmp_path, write_nifti, mask_shape, mask_affine, match):
    image = write_nifti(tmp_path / "a.nii.gz", np.zeros((5, 4, 3), np.float32))
    mask = write_nifti(tmp_path / "labels" / "a.nii.gz", np.zeros(mask_shape, np.uint8),
                       mask_affine)
    with raises(mask, match) as info:
        discover(tmp_path)
    assert str(image) in info.value.message


def test_label_file_missing(tmp_path, write_nifti):
    for name in ("a", "b"):
        write_nifti(tmp_path / f"{name}.nii.gz", np.zeros((3, 3, 3), np.float32))
    write_nifti(tmp_path / "labels" / "a.nii.gz", np.zeros((3, 3, 3), np.uint8))
    with raises(tmp_path / "labels" / "b.nii.gz", "label file missing"):
        discover(tmp_path)


def test_mask_without_image(tmp_path, write_nifti):
    write_nifti(tmp_path / "a.nii.gz", np.zeros((3, 3, 3), np.float32))
    stray = write_nifti(tmp_path / "labels" / "zz.nii.gz", np.zeros((3, 3, 3), np.uint8))
    with raises(stray, "no such case"):
        discover(tmp_path)


def test_non_consecutive_mask_values_in_a_plain_folder(tmp_path, write_nifti):
    write_nifti(tmp_path / "a.nii.gz", np.zeros((3, 3, 3), np.float32))
    write_nifti(tmp_path / "labels" / "a.nii.gz", np.array([0, 1, 4] * 9, np.uint8)
                .reshape(3, 3, 3))
    with raises(tmp_path / "labels", "not consecutive"):
        discover(tmp_path)


def test_nan_only_image(tmp_path, write_nifti):
    write_nifti(tmp_path / "a.nii.gz", np.full((3, 3, 3), np.nan, np.float32))
    (case,) = discover(tmp_path).cases
    with raises(tmp_path / "a.nii.gz", "no finite voxel"):
        load_case(case, ())


def _msd(root: Path, write_nifti, meta_update: dict, label: np.ndarray | None = None) -> Path:
    meta = {"modality": {"0": "CT"}, "labels": {"0": "background", "1": "organ"},
            "numTraining": 1,
            "training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}]}
    meta.update(meta_update)
    meta = {k: v for k, v in meta.items() if v is not None}
    write_nifti(root / "imagesTr" / "x.nii.gz", np.zeros((3, 3, 3), np.float32))
    write_nifti(root / "labelsTr" / "x.nii.gz",
                np.zeros((3, 3, 3), np.uint8) if label is None else label)
    path = root / "dataset.json"
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("field", ["labels", "modality", "training"])
def test_msd_dataset_json_missing_field(tmp_path, write_nifti, field):
    path = _msd(tmp_path, write_nifti, {field: None})
    with raises(path, f"missing field.*{field}"):
        discover(tmp_path)


@pytest.mark.parametrize("field", ["channel_names", "labels", "file_ending"])
def test_nnunet_dataset_json_missing_field(tmp_path, write_nifti, field):
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1},
            "file_ending": ".nii.gz"}
    del meta[field]
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    write_nifti(tmp_path / "imagesTr" / "x_0000.nii.gz", np.zeros((3, 3, 3), np.float32))
    with raises(tmp_path / "dataset.json", f"missing field.*{field}"):
        discover(tmp_path)


@pytest.mark.parametrize(("labels", "match"), [
    ({"0": "background", "1": "a", "4": "b"}, "not consecutive"),
    ({"0": "background", "one": "a"}, "non-integer key"),
])
def test_msd_bad_label_declarations(tmp_path, write_nifti, labels, match):
    path = _msd(tmp_path, write_nifti, {"labels": labels})
    with raises(path, match):
        discover(tmp_path)


def test_nnunet_region_labels_rejected(tmp_path, write_nifti):
    (tmp_path / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "T1"}, "labels": {"background": 0, "whole": [1, 2]},
        "file_ending": ".nii.gz"}))
    with raises(tmp_path / "dataset.json", "region-based"):
        discover(tmp_path)


def test_unknown_label_value_in_a_mask(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, {}, label=np.full((3, 3, 3), 3, np.uint8))
    source = discover(tmp_path)
    with raises(tmp_path / "labelsTr" / "x.nii.gz", r"\[3\].*dataset.json"):
        load_case(source.cases[0], source.label_names)


def test_msd_listed_image_missing(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, {})
    (tmp_path / "imagesTr" / "x.nii.gz").unlink()
    with raises(tmp_path / "imagesTr" / "x.nii.gz", "listed in dataset.json"):
        discover(tmp_path)


def test_msd_label_missing(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, {})
    (tmp_path / "labelsTr" / "x.nii.gz").unlink()
    with raises(tmp_path / "labelsTr" / "x.nii.gz", "label file missing"):
        discover(tmp_path)


def test_msd_case_listed_twice(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, {})
    (tmp_path / "dataset.json").write_text(json.dumps({
        **json.loads((tmp_path / "dataset.json").read_text()),
        "training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"},
                     {"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/y.nii.gz"}]}))
    with raises(tmp_path, "appears twice"):
        discover(tmp_path)


def test_msd_channel_count_mismatch(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, {"modality": {"0": "T1", "1": "T2"}})
    with raises(tmp_path / "imagesTr" / "x.nii.gz", "1 channel"):
        discover(tmp_path)


@pytest.fixture
def two_cases(tmp_path, write_nifti):
    for name in ("a", "b"):
        write_nifti(tmp_path / "data" / f"{name}.nii.gz", np.zeros((3, 3, 3), np.float32))
    return tmp_path / "data"


@pytest.mark.parametrize(("rows", "match"), [
    ("case,label\na,1\n", "case 'b' of the dataset has no row"),
    ("case,label\na,1\nb,0\nc,1\n", "case 'c' is listed"),
    ("case,label\na,1\na,0\nb,1\n", "appears 2 times"),
    ("name,label\na,1\nb,0\n", "missing column"),
    ("case,label\na,1\nb,\n", "empty"),
])
def test_bad_label_tables(two_cases, tmp_path, rows, match):
    table = tmp_path / "labels.csv"
    table.write_text(rows)
    with raises(table, match):
        discover(two_cases, labels_csv=table)


def test_regression_needs_numbers(two_cases, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("case,label\na,1.5\nb,big\n")
    with raises(table, "not a number"):
        discover(two_cases, labels_csv=table, task="regression")


def test_task_and_labels_must_agree(two_cases, tmp_path, write_nifti):
    with raises(two_cases, "needs a label table"):
        discover(two_cases, task="classification")
    with raises(two_cases, "no label masks"):
        discover(two_cases, task="segmentation")
    table = tmp_path / "t.csv"
    table.write_text("case,label\na,1\nb,0\n")
    with raises(table, "segmentation needs masks"):
        discover(two_cases, task="segmentation", labels_csv=table)
    with pytest.raises(InputError, match="unknown task"):
        discover(two_cases, task="detection")


def test_mixed_2d_and_3d(tmp_path, write_nifti):
    write_nifti(tmp_path / "a.nii.gz", np.zeros((3, 3, 3), np.float32))
    flat = write_nifti(tmp_path / "b.nii.gz", np.zeros((3, 3, 1), np.float32))
    with raises(flat, "2D image in a dataset of 3D"):
        discover(tmp_path)
