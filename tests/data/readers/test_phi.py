"""Pseudonymisation: planted identifiers never reach a record, and `scan_for` proves it."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from mias.data import phi
from mias.data.readers import discover, impute

PLANTED = ["Doe", "Jane", "Quincy", "Doe^Jane^Quincy", "PID-93127", "ACC-55521", "19610304",
           "1961-03-04", "Saint Elsewhere Hospital"]


@pytest.fixture
def identified_dataset(tmp_path, write_series, write_nifti):
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    folder = tmp_path / "data" / "Doe_Jane_PID-93127"
    write_series(folder / "series", volume, description="T1 Doe")
    write_series(folder / "loc", volume[:2], description="loc",
                 extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    write_series(tmp_path / "data" / "case02", volume,
                 patient={"PatientName": "Roe^Rick", "PatientID": "7781", "PatientAge": "050Y"})
    write_nifti(tmp_path / "data" / "labels" / "Doe_Jane_PID-93127.nii.gz",
                np.zeros((5, 4, 3), np.uint8),
                np.diag([-1.0, -1.0, 2.0, 1.0]))
    write_nifti(tmp_path / "data" / "labels" / "case02.nii.gz", np.zeros((5, 4, 3), np.uint8),
                np.diag([-1.0, -1.0, 2.0, 1.0]))
    return tmp_path / "data"


def test_direct_identifiers_of_a_header(identified_dataset):
    path = next((identified_dataset / "Doe_Jane_PID-93127" / "series").iterdir())
    found = phi.direct_identifiers(pydicom.dcmread(path))
    assert set(PLANTED) <= found
    assert "045Y" not in found and "F" not in found


def test_identifiers_never_reach_records(identified_dataset, tmp_path):
    source = discover(identified_dataset)
    records = impute([c.record for c in source.cases])
    by_key = dict(zip(("Doe_Jane_PID-93127", "case02"), records, strict=True))
    hashed = by_key["Doe_Jane_PID-93127"]
    assert hashed.case_id == phi.pseudonym("case", "Doe_Jane_PID-93127")
    assert hashed.case_id.startswith("case-") and len(hashed.case_id) == 15
    assert hashed.image_files == (phi.REDACTED,) and hashed.label_file == phi.REDACTED
    assert hashed.subject_id == phi.subject_id("PID-93127")
    assert hashed.channel_names == ("series1",)
    assert hashed.attributes["series_description"] == phi.REDACTED
    assert by_key["case02"].case_id == "case02"
    assert by_key["case02"].label_file == "labels/case02.nii.gz"
    assert source.cases[0].image_paths[0].is_relative_to(identified_dataset)

    out = tmp_path / "out" / "records.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"records": [r.to_dict() for r in records],
                               "warnings": list(source.warnings)}))
    assert phi.scan_for([*PLANTED, "7781", "Roe", "Rick"], [out.parent]) == []
    assert any("localizer" in w for w in source.warnings)


def test_pseudonyms_are_stable():
    assert phi.case_id("Doe_Jane", {"Doe"}) == phi.case_id("Doe_Jane", {"Doe"})
    assert phi.case_id("case07", {"Doe"}) == "case07"
    assert phi.case_id("doe_case", {"DOE"}).startswith("case-")
    assert phi.subject_id("PID-1") != phi.subject_id("PID-2")


def test_scan_for_finds_planted_strings(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "log.txt").write_text("patient DOE^JANE seen; id pid-93127")
    (tmp_path / "clean.json").write_text("{}")
    hits = phi.scan_for(["Doe^Jane", "PID-93127", "absent"], [tmp_path])
    assert {(h.path.name, h.identifier) for h in hits} == {("log.txt", "Doe^Jane"),
                                                          ("log.txt", "PID-93127")}
    assert hits[0].offset >= 0


def test_scan_for_ignores_chance_matches_inside_words(tmp_path):
    (tmp_path / "figure.html").write_text("<img src='data:image/png;base64,fakdoes4x'>")
    (tmp_path / "path.json").write_text('{"file": "/data/Doe_Jane/1.dcm"}')
    hits = phi.scan_for(["Doe"], [tmp_path])
    assert [h.path.name for h in hits] == ["path.json"]
    assert len(phi.scan_for(["Doe"], [tmp_path], whole_word=False)) == 2


def test_a_dataset_folder_named_after_a_patient_is_not_recorded(identified_dataset, tmp_path):
    """The manifest names the dataset folder (so `evaluate` finds it again) only when the
    path holds no case's identifier and nothing shaped like a UID."""
    assert discover(identified_dataset).manifest_fields()["data_root"] == \
        str(identified_dataset.resolve())
    named = identified_dataset.rename(tmp_path / "Quincy")
    fields = discover(named).manifest_fields()
    assert fields["data_root"] is None
    uid = named.rename(tmp_path / "1.2.840.113619.2")
    assert discover(uid).manifest_fields()["data_root"] is None
