"""`mias prepare` end to end on synthetic stand-ins: the DESIGN contract's files, PHI, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mias.cli.main import main
from mias.data import prepare as prepare_module
from mias.data.phi import scan_for
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import planted_identifiers

CONTRACT = ("manifest.json", "demographics.json", "demographics.html", "splits.json",
            "search_space.json")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _check_contract(prep: Path, n_cases: int) -> dict:
    for name in CONTRACT:
        assert (prep / name).is_file(), name
    for name in ("manifest.json", "demographics.json", "splits.json", "search_space.json"):
        assert "schema_version" in _load(prep / name), name
    manifest = _load(prep / "manifest.json")
    assert len(manifest["cases"]) == n_cases
    shape = tuple(manifest["task"]["input_shape"])
    for case in manifest["cases"]:
        with np.load(prep / case["array"]) as arrays:
            assert arrays["image"].shape[1:] == shape
            assert arrays["image"].shape[0] == manifest["task"]["in_channels"]
            assert np.isfinite(arrays["image"]).all()
    splits = _load(prep / "splits.json")
    ids = [c["case_id"] for c in manifest["cases"]]
    assert sorted(splits["train"] + splits["val"] + splits.get("test", [])) == sorted(ids)
    assert splits["val"], "validation split must not be empty"
    subject = {c["case_id"]: c["subject_id"] for c in manifest["cases"]}
    train_subjects = {subject[c] for c in splits["train"]}
    assert not train_subjects & {subject[c] for c in splits["val"]}
    assert not any(p.name.startswith(".") for p in (prep / "cases").iterdir())
    assert not any(p.name.startswith(".") for p in prep.parent.iterdir())
    return manifest


def test_prepare_nifti_segmentation_writes_the_contract(hippo_nifti, tmp_path):
    prep = tmp_path / "P"
    assert main(["prepare", str(hippo_nifti), "--out", str(prep)]) == 0
    manifest = _check_contract(prep, 14)
    task = manifest["task"]
    assert task["kind"] == "segmentation" and task["num_classes"] == 3
    assert task["label_names"] == ["background", "Anterior", "Posterior"]
    space = _load(prep / "search_space.json")
    assert space["exclusions"], "operator selection states its exclusions"
    html = (prep / "demographics.html").read_text()
    assert html.count("<img") >= 3


def test_prepare_dicom_keeps_no_direct_identifier(hippo_dicom, tmp_path):
    prep = tmp_path / "P"
    assert main(["prepare", str(hippo_dicom), "--out", str(prep)]) == 0
    manifest = _check_contract(prep, 10)
    planted = planted_identifiers(hippo_dicom)
    assert planted
    outputs = [p for p in prep.rglob("*") if p.is_file()]
    assert scan_for(planted, outputs) == []
    imputed = [c["imputed"] for c in manifest["cases"]]
    assert any("spacing" in i for i in imputed)


def test_prepare_brain_tumour_detection_as_classification(brain_nifti, tmp_path):
    prep = tmp_path / "P"
    rc = main(["prepare", str(brain_nifti), "--out", str(prep), "--task", "classification",
               "--labels", str(brain_nifti / "labels_detection.csv"), "--metric", "f_beta",
               "--beta", "0.5", "--input-shape", "32x32x24"])
    assert rc == 0
    manifest = _check_contract(prep, 8)
    task = manifest["task"]
    assert task["kind"] == "classification" and task["in_channels"] == 4
    assert task["input_shape"] == [32, 32, 24] and task["beta"] == 0.5
    assert {c["label"] for c in manifest["cases"]} <= {0, 1}
    assert "dec0" not in json.dumps(_load(prep / "search_space.json")["layers"])


def test_prepare_xray_dicom_2d_classification(xray_dicom, tmp_path):
    prep = tmp_path / "P"
    rc = main(["prepare", str(xray_dicom), "--out", str(prep), "--task", "classification",
               "--labels", str(xray_dicom / "labels_finding.csv")])
    assert rc == 0
    manifest = _check_contract(prep, 12)
    assert manifest["task"]["spatial_dims"] == 2
    assert manifest["preprocessing"]["normalization"] == "xray"
    images = {c["case_id"]: np.load(prep / c["array"])["image"][0] for c in manifest["cases"]}
    before = {c["case_id"]: c["preprocessing"]["view"]["orientation_before"]
              for c in manifest["cases"]}
    reference = np.mean([images[k] for k, o in before.items() if o == "L\\F"], axis=0)
    flipped = [k for k, o in before.items() if o != "L\\F"]
    assert flipped, "the synthetic set stores some radiographs mirrored"
    for k in flipped:
        as_prepared = np.corrcoef(images[k].ravel(), reference.ravel())[0, 1]
        as_stored = max(np.corrcoef(np.flip(images[k], axis).ravel(), reference.ravel())[0, 1]
                        for axis in (0, 1))
        assert as_prepared > as_stored, k


def test_same_seed_gives_the_same_outputs(hippo_nifti, tmp_path):
    a = prepare(hippo_nifti, tmp_path / "a", PrepareConfig(seed=7, workers=1))
    b = prepare(hippo_nifti, tmp_path / "b", PrepareConfig(seed=7, workers=2))
    for name in ("manifest.json", "splits.json", "search_space.json", "demographics.json"):
        assert (a / name).read_text() == (b / name).read_text(), name
    c = prepare(hippo_nifti, tmp_path / "c", PrepareConfig(seed=8, workers=1))
    assert (a / "splits.json").read_text() != (c / "splits.json").read_text()


def test_a_crash_resumes_from_finished_cases(hippo_nifti, tmp_path, monkeypatch):
    real = prepare_module._process_case
    calls: list[str] = []

    def crash_on_fifth(job):
        calls.append(job.case.record.case_id)
        if len(calls) == 5:
            raise RuntimeError("simulated crash")
        return real(job)

    monkeypatch.setattr(prepare_module, "_process_case", crash_on_fifth)
    out = tmp_path / "P"
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(hippo_nifti, out, PrepareConfig(workers=1))
    assert not out.exists()
    calls.clear()
    monkeypatch.setattr(prepare_module, "_process_case", lambda job: (calls.append(
        job.case.record.case_id), real(job))[1])
    prepare(hippo_nifti, out, PrepareConfig(workers=1))
    assert len(calls) == 14 - 4
    _check_contract(out, 14)


def test_dataset_oddities_are_warned_about_and_recorded(hippo_nifti, tmp_path, capsys):
    data = tmp_path / "D"
    shutil.copytree(hippo_nifti, data)
    meta = json.loads((data / "dataset.json").read_text())
    meta["numTraining"] = 263
    (data / "dataset.json").write_text(json.dumps(meta))
    prep = tmp_path / "P"
    assert main(["prepare", str(data), "--out", str(prep)]) == 0
    warnings = _load(prep / "manifest.json")["warnings"]
    assert any("numTraining says 263" in w for w in warnings)
    assert "numTraining says 263" in capsys.readouterr().err
