from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from mias.data.synth import synthesize
from mias.errors import InputError

Make = Callable[..., Path]


def test_msd_hippocampus_layout(make_dataset: Make) -> None:
    root = make_dataset("hippocampus", "nifti", cases=6)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["modality"] == {"0": "MRI"}
    assert meta["labels"] == {"0": "background", "1": "Anterior", "2": "Posterior"}
    assert meta["numTraining"] == 6 and meta["numTest"] == 0 and meta["tensorImageSize"] == "3D"
    assert meta["training"][0]["image"] == "./imagesTr/hippocampus_001.nii.gz"
    targets = pd.read_csv(root / "labels_volume.csv").set_index("case")["label"]
    for entry in meta["training"]:
        image = nib.load(root / entry["image"])
        label = nib.load(root / entry["label"])
        assert image.shape == label.shape and image.ndim == 3
        assert (np.array([31, 40, 24]) <= image.shape).all()
        assert (np.array(image.shape) <= [43, 59, 47]).all()
        assert np.allclose(image.header.get_zooms(), 1.0)
        assert np.allclose(image.affine, label.affine)
        mask = np.asarray(label.dataobj)
        assert set(np.unique(mask)) == {0, 1, 2}
        case = Path(entry["label"]).name.removesuffix(".nii.gz")
        assert targets[case] == pytest.approx((mask > 0).sum() / 1000.0)
    assert not (root / "imagesTs").exists()


def test_msd_braintumour_is_one_4d_file_per_case(make_dataset: Make) -> None:
    root = make_dataset("braintumour", "nifti", cases=4)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["modality"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    assert meta["labels"]["3"] == "enhancing tumour" and meta["tensorImageSize"] == "4D"
    image = nib.load(root / meta["training"][0]["image"])
    assert image.shape == (64, 64, 40, 4)
    assert np.allclose(image.header.get_zooms()[:3], (3.75, 3.75, 3.9))
    assert sorted(p.name for p in (root / "imagesTr").iterdir())[0] == "braintumour_001.nii.gz"


def test_nnunet_layout(make_dataset: Make) -> None:
    root = make_dataset("braintumour", "nnunet", cases=2)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    assert meta["labels"] == {"background": 0, "edema": 1, "non-enhancing tumor": 2,
                              "enhancing tumour": 3}
    assert meta["file_ending"] == ".nii.gz" and meta["numTraining"] == 2
    names = sorted(p.name for p in (root / "imagesTr").iterdir())
    assert names[:4] == [f"braintumour_001_{c:04d}.nii.gz" for c in range(4)]
    assert sorted(p.name for p in (root / "labelsTr").iterdir()) == [
        "braintumour_001.nii.gz", "braintumour_002.nii.gz"]
    assert nib.load(root / "imagesTr" / names[0]).shape == (64, 64, 40)


def test_xray_nifti_is_2d(make_dataset: Make) -> None:
    root = make_dataset("xray", "nifti", cases=4)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["tensorImageSize"] == "2D"
    image = nib.load(root / meta["training"][0]["image"])
    assert image.shape == (128, 128)
    assert (root / "labels_finding.csv").exists()


def test_participants_table(make_dataset: Make) -> None:
    root = make_dataset("hippocampus", "nifti", cases=20)
    table = pd.read_csv(root / "participants.tsv", sep="\t")
    assert list(table.columns) == ["participant_id", "subject", "age", "sex"]
    assert table["participant_id"].is_unique
    assert table["age"].isna().sum() == 2 and table["sex"].isna().sum() == 1
    assert table["age"].dropna().between(18, 90).all()
    assert set(table["sex"].dropna()) <= {"M", "F"}
    assert "n/a" in (root / "participants.tsv").read_text()


def test_bad_arguments_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="format"):
        synthesize("hippocampus", tmp_path / "x", cases=2, fmt="png")
    with pytest.raises(InputError, match="at least 1"):
        synthesize("hippocampus", tmp_path / "x", cases=0)
    assert not (tmp_path / "x").exists()
