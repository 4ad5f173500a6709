"""DICOM from any folder tree: flat radiographs, flat PACS exports, nested trees, splits,
label tables by any name of a case, skipped non-DICOM files, UIDs kept out of outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mias.cli.main import main
from mias.data import phi
from mias.data.readers import discover, load_case
from mias.errors import InputError

SLICES, ROWS, COLS = 4, 5, 6


def coded(offset: int = 0) -> np.ndarray:
    """[slice, row, column] with value 100·k + 10·j + i (+ offset): voxels say where they are."""
    k, j, i = np.meshgrid(range(SLICES), range(ROWS), range(COLS), indexing="ij")
    return (100 * k + 10 * j + i + offset).astype(np.int16)


def canonical(volume: np.ndarray) -> np.ndarray:
    """What the reader returns for an axial series: LPS → RAS flips columns and rows."""
    return volume.transpose(2, 1, 0)[::-1, ::-1, :].astype(np.float32)


def flatten(staging: Path, root: Path, seed: int = 0) -> None:
    """Move every file under `staging` into `root` under shuffled, meaningless names,
    half of them without an extension (a PACS export)."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    order = np.random.default_rng(seed).permutation(len(files))
    root.mkdir(parents=True, exist_ok=True)
    for n, path in zip(order, files, strict=True):
        shutil.move(path, root / (f"{n:05d}.dcm" if n % 2 else f"{n:05d}"))
    shutil.rmtree(staging)


@pytest.fixture
def flat_export(tmp_path, write_series):
    """Three MR series of two patients (step 2, 3 and 1.5 mm) and a note, in one folder."""
    other = {"PatientName": "Roe^Rick", "PatientID": "7781", "PatientAge": "050Y"}
    uids = {"1.2.826.0.1.3680043.8.498.101": (2.0, None, 0),
            "1.2.826.0.1.3680043.8.498.102": (3.0, other, 1000),
            "1.2.826.0.1.3680043.8.498.103": (1.5, None, 2000)}
    for n, (uid, (step, patient, offset)) in enumerate(uids.items()):
        write_series(tmp_path / "staging" / str(n), coded(offset), uid=uid, step=step,
                     patient=patient, seed=n, origin=(0, 0, 10 * n))
    root = tmp_path / "export"
    flatten(tmp_path / "staging", root)
    (root / "README.txt").write_text("exported by the PACS")
    return root, {uid: (step, offset) for uid, (step, _, offset) in uids.items()}


def test_flat_folder_of_radiographs_is_one_case_per_file(tmp_path, write_radiograph,
                                                         write_nifti):
    image = np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS)
    for n, name in enumerate(("chest_a.dcm", "chest_b.dcm", "IM0003")):
        write_radiograph(tmp_path / name, image + n, modality="DX" if n else "CR")
    write_nifti(tmp_path / "labels" / "chest_b.nii.gz", np.ones((COLS, ROWS), np.uint8))
    write_nifti(tmp_path / "labels" / "chest_a.nii.gz", np.ones((COLS, ROWS), np.uint8))
    write_nifti(tmp_path / "labels" / "IM0003.nii.gz", np.zeros((COLS, ROWS), np.uint8))
    source = discover(tmp_path)
    assert (source.format, source.kind) == ("dicom", "segmentation")
    assert [c.record.case_id for c in source.cases] == ["IM0003", "chest_a", "chest_b"]
    assert all(c.record.shape == (COLS, ROWS) for c in source.cases)
    loaded = load_case(source.cases[2], source.label_names)
    np.testing.assert_array_equal(loaded.image[0], (image + 1).T[::-1, ::-1])
    assert source.skipped_files == 0


def test_radiographs_sharing_one_series_uid_are_separate_cases(tmp_path, write_radiograph):
    image = np.zeros((ROWS, COLS), np.int16)
    for name in ("pa.dcm", "lat.dcm"):
        path = write_radiograph(tmp_path / "patient" / name, image)
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.7"
        ds.save_as(path, enforce_file_format=True)
    ids = {c.record.case_id for c in discover(tmp_path).cases}
    assert ids == {phi.pseudonym("case", "patient/lat"), phi.pseudonym("case", "patient/pa")}


def test_flat_mixed_export_is_one_case_per_series(flat_export):
    root, series = flat_export
    source = discover(root)
    assert len(source.cases) == 3 and source.skipped_files == 1
    assert any("skipped 1 file(s)" in w and ".txt" in w for w in source.warnings)
    by_id = {c.record.case_id: c for c in source.cases}
    assert set(by_id) == {phi.pseudonym("case", uid) for uid in series}
    subjects = {c.record.subject_id for c in source.cases}
    assert subjects == {phi.subject_id("PID-93127"), phi.subject_id("7781")}
    for uid, (step, offset) in series.items():
        case = by_id[phi.pseudonym("case", uid)]
        assert case.record.shape == (COLS, ROWS, SLICES)
        assert case.record.spacing == pytest.approx((1.0, 1.0, step))
        np.testing.assert_array_equal(load_case(case, ()).image[0], canonical(coded(offset)))


def test_case_ids_are_stable_pseudonyms_across_runs_and_renames(flat_export, tmp_path):
    root, _ = flat_export
    first = [c.record.case_id for c in discover(root).cases]
    renamed = tmp_path / "again"
    flatten(root, renamed, seed=5)
    assert [c.record.case_id for c in discover(renamed).cases] == first


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_nested_trees_of_any_depth(tmp_path, write_series, depth):
    deep = [f"level{n}" for n in range(depth - 1)]
    write_series(tmp_path.joinpath("Patient1", *deep, "T1"), coded(), uid="1.2.3.101")
    write_series(tmp_path.joinpath("Patient1", *deep, "T2_sag"), coded(7),
                 iop=(0, 1, 0, 0, 0, -1), uid="1.2.3.102")
    write_series(tmp_path.joinpath("Patient2", *deep, "T1"), coded(9), uid="1.2.3.103",
                 patient={"PatientID": "P2"})
    source = discover(tmp_path)
    assert len(source.cases) == 3
    # A folder holding one case names it; deeper cases get a pseudonym of their path.
    assert {c.record.case_id for c in source.cases} == {
        "Patient2", *(phi.pseudonym("case", "/".join(["Patient1", *deep, series]))
                      for series in ("T1", "T2_sag"))}
    case = next(c for c in source.cases if c.record.case_id == "Patient2")
    np.testing.assert_array_equal(load_case(case, ()).image[0], canonical(coded(9)))


def test_series_of_one_case_folder_on_one_grid_stay_channels(tmp_path, write_series):
    for case in ("c1", "c2"):
        write_series(tmp_path / case / "study" / "t1", coded(), description="T1")
        write_series(tmp_path / case / "study" / "flair", coded(1), description="FLAIR")
    source = discover(tmp_path)
    assert [c.record.case_id for c in source.cases] == ["c1", "c2"]
    assert source.channel_names == ("FLAIR", "T1")


@pytest.mark.parametrize(("change", "word"), [
    ({"iop": (0, 1, 0, 0, 0, -1)}, "orientation"),
    ({"volume": coded(3)[:, :3]}, "image size"),
    ({"modality": "CT"}, "modality"),
])
def test_series_split_where_it_changes(tmp_path, write_series, change, word):
    write_series(tmp_path / "s" / "a", coded(), uid="1.2.3.55")
    volume = change.pop("volume", coded(3))
    write_series(tmp_path / "s" / "b", volume, uid="1.2.3.55", origin=(0, 0, 50), seed=2,
                 **change)
    if word == "modality":
        with pytest.raises(InputError, match="mix modalities"):
            discover(tmp_path)
        return
    source = discover(tmp_path)
    assert len(source.cases) == 2
    assert sum(f"split into 2: its {word}" in w for w in source.warnings) == 2
    assert all(w.startswith(tuple(c.record.case_id for c in source.cases))
               for w in source.warnings if "split" in w)
    images = sorted(load_case(c, ()).image[0].min() for c in source.cases)
    assert images == [0.0, 3.0]


@pytest.mark.parametrize("name", ["stem", "folder", "uid"])
def test_label_table_keyed_by_any_name_of_a_case(tmp_path, write_series, write_radiograph,
                                                 name):
    data = tmp_path / "data"
    if name == "stem":
        for n in range(4):
            write_radiograph(data / f"xr{n}.dcm", np.zeros((ROWS, COLS), np.int16))
        keys = [f"xr{n}" for n in range(4)]
    else:
        keys = []
        for n in range(4):
            uid = f"1.2.826.0.1.3680043.8.498.{200 + n}"
            write_series(data / f"pat{n}" / "study" / f"series{n}", coded(n), uid=uid,
                         patient={"PatientID": f"P{n}"})
            keys.append(f"series{n}" if name == "folder" else uid)
    table = tmp_path / "labels.csv"
    table.write_text("case,label\n" + "".join(f"{k},{n % 2}\n" for n, k in enumerate(keys)))
    source = discover(data, labels_csv=table)
    assert source.kind == "classification"
    assert sorted(c.record.label for c in source.cases) == [0, 0, 1, 1]


def test_label_table_matching_no_case_lists_the_expected_names(tmp_path, write_series):
    for n in range(2):
        write_series(tmp_path / "data" / "staging" / str(n), coded(n),
                     uid=f"1.2.826.0.1.3680043.8.498.{300 + n}")
    flatten(tmp_path / "data" / "staging", tmp_path / "data")
    table = tmp_path / "labels.csv"
    table.write_text("case,label\n00001.dcm,0\n00002.dcm,1\n")
    with pytest.raises(InputError, match="none of the table's 2 case names") as info:
        discover(tmp_path / "data", labels_csv=table)
    message = info.value.message
    assert str(table) in message and "SeriesInstanceUID" in message
    assert "'1.2.826.0.1.3680043.8.498.300'" in message


def test_dicom_named_file_without_part10_header_is_skipped(tmp_path, write_series):
    write_series(tmp_path / "case01", coded())
    shutil.copy(pydicom.data.get_testdata_file("no_meta.dcm"), tmp_path / "case01" / "x.dcm")
    source = discover(tmp_path)
    assert source.skipped_files == 1 and len(source.cases) == 1
    assert any("dcmconv" in w for w in source.warnings)


def test_prepare_keeps_uids_out_of_every_output(flat_export, tmp_path, write_series):
    root, series = flat_export
    for n in range(3):   # two more cases, in folders named after their UIDs
        uid = f"1.2.826.0.1.3680043.8.498.{110 + n}"
        write_series(root / uid, coded(n), uid=uid, patient={"PatientID": f"Q{n}"}, seed=n)
        series[uid] = (2.0, n)
    table = tmp_path / "labels.csv"
    table.write_text("case,label\n" + "".join(f"{u},{n % 2}\n" for n, u in enumerate(series)))
    planted = set()
    for path in root.rglob("*"):
        if path.is_file() and path.suffix != ".txt":
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            planted |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                        str(ds.SOPInstanceUID)}
    prep = tmp_path / "prep"
    rc = main(["prepare", str(root), "--out", str(prep), "--task", "classification",
               "--labels", str(table), "--input-shape", "8x8x4", "--workers", "1"])
    assert rc == 0
    assert len(planted) > 2 * len(series)
    assert phi.scan_for(planted, [prep], whole_word=False) == []
    manifest = json.loads((prep / "manifest.json").read_text())
    assert {c["case_id"] for c in manifest["cases"]} == {phi.pseudonym("case", u)
                                                        for u in series}
    assert manifest["skipped_files"] == 1
    assert manifest["deidentification"]["code"] == "DCM 113100"
    assert "Annex E" in manifest["deidentification"]["standard"]
