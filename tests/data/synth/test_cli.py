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
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "lungs", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "lungs" in err and all(f"'{t}'" in err for t in ("braintumour", "hippocampus", "xray"))
    assert not (tmp_path / "x").exists()


def test_overwrite_replaces_an_earlier_synth_output_but_never_other_folders(
        tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    args = ["synth", "hippocampus", "--out", str(out), "--cases", "2"]
    assert main(args) == 2 and (out / "keep.txt").exists()
    assert main([*args, "--overwrite"]) == 2 and (out / "keep.txt").read_text() == "user data"
    fresh = tmp_path / "fresh"
    assert main([*args[:3], str(fresh), "--cases", "2"]) == 0
    assert main([*args[:3], str(fresh), "--cases", "3", "--overwrite"]) == 0
    assert json.loads((fresh / "dataset.json").read_text())["numTraining"] == 3


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: nifti.MsdWriter) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nifti.MsdWriter, "close", broken)
    assert main(["synth", "hippocampus", "--out", str(tmp_path / "x"), "--cases", "2"]) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_stand_in_without_a_dicom_writer_is_a_usage_error(tmp_path, capsys):
    from mias.cli.main import main

    assert main(["synth", "liver", "--out", str(tmp_path / "L"), "--format", "dicom",
                 "--cases", "2"]) == 2
    err = capsys.readouterr().err
    assert "no DICOM writer" in err and "Traceback" not in err
    assert not (tmp_path / "L").exists()
