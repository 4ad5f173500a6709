"""Bad input to `mias prepare`: exit code 2, a message naming the file and the fix, no output."""

from __future__ import annotations

import json
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


def _fails_cleanly(src: Path, tmp_path: Path, capsys, break_it) -> None:
    """Copy `src`, let `break_it(copy)` damage it and return the file it damaged, then
    check that `mias prepare` refuses it cleanly, naming that file."""
    data = tmp_path / "D"
    shutil.copytree(src, data)
    broken = break_it(data)
    out = tmp_path / "P"
    rc, err = _run(capsys, str(data), "--out", str(out))
    _assert_clean_failure(rc, err, out, broken.name)


def _first(folder: Path, index: int = 0) -> Path:
    return sorted(folder.glob("*.nii.gz"))[index]


def test_truncated_dicom_inside_a_series(hippo_dicom, tmp_path, capsys):
    def truncate(data: Path) -> Path:
        case = sorted(p for p in (data / "DATA").iterdir() if p.name != "labels")[0]
        bad = case / "zz_truncated.dcm"
        shutil.copy(get_testdata_file("MR_truncated.dcm"), bad)
        return bad

    _fails_cleanly(hippo_dicom, tmp_path, capsys, truncate)


def test_label_shape_mismatch(hippo_nifti, tmp_path, capsys):
    def shrink(data: Path) -> Path:
        label = _first(data / "labelsTr")
        nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.uint8), nib.load(label).affine), label)
        return label

    _fails_cleanly(hippo_nifti, tmp_path, capsys, shrink)


def test_missing_label_file(hippo_nifti, tmp_path, capsys):
    def remove(data: Path) -> Path:
        label = _first(data / "labelsTr", 1)
        label.unlink()
        return label

    _fails_cleanly(hippo_nifti, tmp_path, capsys, remove)


def test_nan_only_image(hippo_nifti, tmp_path, capsys):
    def nan_out(data: Path) -> Path:
        image = _first(data / "imagesTr", 2)
        img = nib.load(image)
        nib.save(nib.Nifti1Image(np.full(img.shape, np.nan, np.float32), img.affine), image)
        return image

    _fails_cleanly(hippo_nifti, tmp_path, capsys, nan_out)


def test_unknown_label_value(hippo_nifti, tmp_path, capsys):
    def add_value(data: Path) -> Path:
        label = _first(data / "labelsTr")
        img = nib.load(label)
        arr = np.asarray(img.dataobj).copy()
        arr[0, 0, 0] = 7
        nib.save(nib.Nifti1Image(arr, img.affine), label)
        return label

    _fails_cleanly(hippo_nifti, tmp_path, capsys, add_value)


def test_dataset_json_missing_labels(hippo_nifti, tmp_path, capsys):
    def drop_labels(data: Path) -> Path:
        meta = json.loads((data / "dataset.json").read_text())
        del meta["labels"]
        (data / "dataset.json").write_text(json.dumps(meta))
        return data / "dataset.json"

    _fails_cleanly(hippo_nifti, tmp_path, capsys, drop_labels)


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
