"""NIfTI, MSD original and nnU-Net v2 layouts: discovery, dataset.json, canonical loading."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from mias.data.imputation import MODALITY_FROM_DATASET_JSON, SPACING_UNITS_ASSUMED
from mias.data.readers import discover, load_case
from mias.records import CaseRecord

LPI = np.diag([1.5, -1.0, -2.0, 1.0])   # x kept, y and z flipped: needs reorientation


def _msd(root, write_nifti, *, cases=3, channels=2, num_training=None):
    meta = {"name": "Tiny", "modality": {str(c): n for c, n in
                                         zip(range(channels), ("FLAIR", "T1w"), strict=False)},
            "labels": {"0": "background", "1": "edema", "2": "tumour"},
            "numTraining": num_training or cases, "training": []}
    rng = np.random.default_rng(0)
    for n in range(cases):
        name = f"tiny_{n:03d}"
        image = rng.normal(size=(6, 5, 4, channels)).astype(np.float32)
        label = (np.arange(6 * 5 * 4).reshape(6, 5, 4) % 3).astype(np.uint8)
        write_nifti(root / "imagesTr" / f"{name}.nii.gz", image, LPI)
        write_nifti(root / "labelsTr" / f"{name}.nii.gz", label, LPI)
        meta["training"].append({"image": f"./imagesTr/{name}.nii.gz",
                                 "label": f"./labelsTr/{name}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps(meta))
    return meta


def test_msd_original_4d_two_channels(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti)
    (tmp_path / "imagesTr" / "._tiny_000.nii.gz").write_bytes(b"AppleDouble junk")
    source = discover(tmp_path)
    assert (source.format, source.kind, source.modality) == ("msd", "segmentation", "MR")
    assert source.channel_names == ("FLAIR", "T1w")
    assert source.label_names == ("background", "edema", "tumour")
    assert source.warnings == ()
    rec = source.cases[0].record
    assert rec.case_id == "tiny_000"
    assert rec.image_files == ("imagesTr/tiny_000.nii.gz",)
    assert rec.label_file == "labelsTr/tiny_000.nii.gz"
    assert rec.shape == (6, 5, 4) and rec.spacing == pytest.approx((1.5, 1.0, 2.0))
    assert rec.imputed["modality"] == MODALITY_FROM_DATASET_JSON
    assert "spacing" not in rec.imputed
    assert CaseRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    loaded = load_case(source.cases[0], source.label_names)
    assert loaded.image.shape == (2, 6, 5, 4) and loaded.label.shape == (6, 5, 4)
    raw = nib.load(tmp_path / "imagesTr" / "tiny_000.nii.gz").get_fdata()
    np.testing.assert_allclose(loaded.image[1], raw[:, ::-1, ::-1, 1], rtol=1e-6)
    assert nib.aff2axcodes(loaded.affine) == ("R", "A", "S")


def test_num_training_mismatch_is_a_warning(tmp_path, write_nifti):
    _msd(tmp_path, write_nifti, cases=2, num_training=263)
    source = discover(tmp_path)
    assert len(source.cases) == 2
    assert any("numTraining says 263" in w for w in source.warnings)


def test_nnunet_v2_layout(tmp_path, write_nifti):
    meta = {"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "zone": 1},
            "numTraining": 2, "file_ending": ".nii.gz"}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    for name in ("prostate_00", "prostate_01"):
        for c in range(2):
            write_nifti(tmp_path / "imagesTr" / f"{name}_{c:04d}.nii.gz",
                        np.full((4, 4, 3), c + 1, np.float32))
        write_nifti(tmp_path / "labelsTr" / f"{name}.nii.gz", np.ones((4, 4, 3), np.uint8))
    source = discover(tmp_path)
    assert (source.format, source.modality) == ("nnunet", "MR")
    assert source.channel_names == ("T2", "ADC")
    assert source.label_names == ("background", "zone")
    assert [c.record.case_id for c in source.cases] == ["prostate_00", "prostate_01"]
    loaded = load_case(source.cases[0], source.label_names)
    assert loaded.image.shape == (2, 4, 4, 3)
    assert loaded.image[0].max() == 1 and loaded.image[1].min() == 2


def test_plain_nifti_folder_with_masks(tmp_path, write_nifti):
    for n in range(2):
        write_nifti(tmp_path / f"scan{n}.nii.gz", np.ones((5, 4, 3), np.int16), units=None)
        mask = np.zeros((5, 4, 3), np.uint8)
        mask[1, 1, 1] = 2
        mask[2, 2, 2] = 1
        write_nifti(tmp_path / "labels" / f"scan{n}.nii.gz", mask)
    source = discover(tmp_path)
    assert (source.format, source.kind, source.modality) == ("nifti", "segmentation", "OT")
    assert source.label_names == ("background", "label_1", "label_2")
    rec = source.cases[0].record
    assert rec.imputed["spacing"] == SPACING_UNITS_ASSUMED
    assert rec.label_file == "labels/scan0.nii.gz"


@pytest.mark.parametrize(("units", "factor"), [("micron", 1e-3), ("meter", 1e3), ("mm", 1.0)])
def test_spacing_units_are_converted_to_mm(tmp_path, write_nifti, units, factor):
    write_nifti(tmp_path / "a.nii.gz", np.ones((3, 3, 3), np.float32), np.diag([2, 2, 4, 1]),
                units=units)
    (case,) = discover(tmp_path).cases
    assert case.record.spacing == pytest.approx((2 * factor, 2 * factor, 4 * factor))
    assert load_case(case, ()).affine[2, 2] == pytest.approx(4 * factor)


def test_2d_nifti_is_a_2d_case(tmp_path, write_nifti):
    write_nifti(tmp_path / "xr.nii.gz", np.arange(12, dtype=np.float32).reshape(4, 3, 1))
    (case,) = discover(tmp_path).cases
    assert case.record.shape == (4, 3)
    assert load_case(case, ()).image.shape == (1, 4, 3)


def test_nonfinite_voxels_are_replaced_by_the_channel_minimum(tmp_path, write_nifti):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4) + 5
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    write_nifti(tmp_path / "a.nii.gz", data)
    loaded = load_case(discover(tmp_path).cases[0], ())
    assert loaded.nonfinite_voxels == 2
    assert np.isfinite(loaded.image).all()
    assert loaded.image[0, 0, 0, 0] == loaded.image[0, 1, 1, 1] == 6.0
