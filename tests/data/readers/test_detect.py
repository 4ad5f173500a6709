"""The format registry and layout detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mias.data.readers import available_readers, create_reader, detect_format


def test_readers_are_registered_in_priority_order():
    assert available_readers() == ["nnunet", "msd", "nifti", "dicom"]
    assert create_reader("msd").name == "msd"
    with pytest.raises(KeyError, match="unknown format"):
        create_reader("analyze")


@pytest.mark.parametrize(("meta", "fmt"), [({"channel_names": {"0": "CT"}}, "nnunet"),
                                           ({"modality": {"0": "CT"}}, "msd")])
def test_dataset_json_decides_between_msd_and_nnunet(tmp_path, meta, fmt):
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    assert detect_format(tmp_path) == fmt


def test_nifti_and_dicom_folders(tmp_path, write_nifti, write_series):
    write_nifti(tmp_path / "n" / "a.nii.gz", np.zeros((2, 2, 2), np.float32))
    write_series(tmp_path / "d" / "case", np.zeros((2, 2, 2), np.int16))
    assert detect_format(tmp_path / "n") == "nifti"
    assert detect_format(tmp_path / "d") == "dicom"
