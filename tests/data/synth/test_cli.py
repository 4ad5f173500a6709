from __future__ import annotations

import json
from pathlib import Path

import pytest

from mias.cli.main import main
from mias.data.synth import nifti


def test_synth_command_writes_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "hippo"
    assert main(["synth", "hippocampus", "--out", str(out), "--cases", "3", "--seed", "1"]) == 0
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["numTraining"] == 3
    assert len(list((out / "imagesTr").glob("*.nii.gz"))) == 3


def test_dicom_format(tmp_path: Path) -> None:
    out = tmp_path / "xr"
    assert main(["synth", "xray", "--out", str(out), "--cases", "2", "--format", "dicom"]) == 0
    assert len(list((out / "DATA").glob("*/*.dcm"))) == 2


def test_unknown_task_lists_the_generators(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "lungs", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "lungs" in err and "braintumour, hippocampus, xray" in err
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_out_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    args = ["synth", "hippocampus", "--out", str(out), "--cases", "2"]
    assert main(args) == 2 and (out / "keep.txt").exists()
    assert main([*args, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "dataset.json").exists()


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: nifti.MsdWriter) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nifti.MsdWriter, "close", broken)
    assert main(["synth", "hippocampus", "--out", str(tmp_path / "x"), "--cases", "2"]) == 1
    assert list(tmp_path.iterdir()) == []
