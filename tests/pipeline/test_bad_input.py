"""Bad input to `mias prepare`: exit code 2, a message naming the file and the fix, no output."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from mias.cli.main import main


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["prepare", *argv])
    return rc, capsys.readouterr().err


def _assert_clean_failure(rc: int, err: str, out: Path, names: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    assert names in err and "Fix:" in err
    assert not out.exists()
    assert not any(p.name.startswith(f".{out.name}") for p in out.parent.iterdir())


def test_empty_folder(tmp_path, capsys):
    data = tmp_path / "empty"
    data.mkdir()
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, "empty")


def test_truncated_dicom_inside_a_series(hippo_dicom, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_dicom, data)
    case = sorted(p for p in (data / "DATA").iterdir() if p.name != "labels")[0]
    bad = case / "zz_truncated.dcm"
    shutil.copy(get_testdata_file("MR_truncated.dcm"), bad)
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, "zz_truncated.dcm")


def test_label_shape_mismatch(hippo_nifti, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    label = sorted((data / "labelsTr").glob("*.nii.gz"))[0]
    img = nib.load(label)
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.uint8), img.affine), label)
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, label.name)


def test_missing_label_file(hippo_nifti, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    label = sorted((data / "labelsTr").glob("*.nii.gz"))[1]
    label.unlink()
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, label.name)


def test_nan_only_image(hippo_nifti, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    image = sorted((data / "imagesTr").glob("*.nii.gz"))[2]
    img = nib.load(image)
    nib.save(nib.Nifti1Image(np.full(img.shape, np.nan, np.float32), img.affine), image)
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, image.name)


def test_unknown_label_value(hippo_nifti, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    label = sorted((data / "labelsTr").glob("*.nii.gz"))[0]
    img = nib.load(label)
    arr = np.asarray(img.dataobj).copy()
    arr[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(arr, img.affine), label)
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, label.name)


def test_dataset_json_missing_labels(hippo_nifti, tmp_path, capsys):
    import json

    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    meta = json.loads((data / "dataset.json").read_text())
    del meta["labels"]
    (data / "dataset.json").write_text(json.dumps(meta))
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, "dataset.json")


@pytest.mark.parametrize("shape", ["64xabc", "0x32x32", "32x32"])
def test_bad_input_shape(hippo_nifti, tmp_path, capsys, shape):
    out = tmp_path / "P"
    rc, err = _run(capsys, str(hippo_nifti), "--out", str(out), "--input-shape", shape)
    assert rc == 2 and "Traceback" not in err and "shape" in err
    assert not out.exists()


def test_existing_output_is_never_overwritten_without_consent(hippo_nifti, tmp_path, capsys):
    out = tmp_path / "P"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    rc, err = _run(capsys, str(hippo_nifti), "--out", str(out))
    assert rc == 2 and "--overwrite" in err
    assert (out / "precious.txt").read_text() == "keep me"
