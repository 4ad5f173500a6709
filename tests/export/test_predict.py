"""`mias predict`: masks on the input's grid, a DICOM SEG highdicom reads back, no torch,
no identifier in any output, bad input exits 2 with nothing written."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from mias.atomic import read_json
from mias.cli import main as cli
from mias.data import phi
from mias.data.synth.dicom import planted_identifiers

# The SEG must point at the source series to be displayed over it in a PACS: these are the
# only attributes allowed to carry a source UID.
REFERENCE_KEYWORDS = {"StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
                      "ReferencedSOPInstanceUID"}


@pytest.fixture(scope="module")
def reoriented(hippo, tmp_path_factory) -> Path:
    """Two scans stored LPS (x and y flipped) with a shifted origin, in a plain folder."""
    out = tmp_path_factory.mktemp("lps") / "scans"
    out.mkdir()
    for src in sorted((hippo / "imagesTr").glob("*.nii.gz"))[:2]:
        img = nib.load(src)
        flipped = img.as_reoriented(np.array([[0, -1], [1, -1], [2, 1]]))
        nib.save(flipped, out / src.name)
    return out


@pytest.fixture(scope="module")
def dicom_prediction(exported, dicom, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dpred") / "OUT"
    assert cli.main(["predict", str(exported), str(dicom), "--out", str(out)]) == 0
    return out


def test_masks_have_the_input_grid(exported, reoriented, tmp_path):
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(exported), str(reoriented), "--out", str(out)]) == 0
    result = read_json(out / "predictions.json")
    assert len(result["cases"]) == 2
    for case in result["cases"]:
        source = nib.load(reoriented / f"{case['case_id']}.nii.gz")
        mask = nib.load(out / case["mask"])
        assert mask.shape == source.shape
        np.testing.assert_allclose(mask.affine, source.affine, atol=1e-5)
        labels = np.asarray(mask.dataobj)
        voxel = float(np.prod(source.header.get_zooms()[:3]))
        assert set(case["volumes_mm3"]) == {"Anterior", "Posterior"}
        for k, name in enumerate(("Anterior", "Posterior"), start=1):
            assert case["volumes_mm3"][name] == pytest.approx((labels == k).sum() * voxel)


def test_flipped_input_gives_the_flipped_mask(exported, hippo, reoriented, tmp_path):
    """Orientation is undone exactly: the same scan stored RAS or LPS gets the same mask."""
    a, b = tmp_path / "A", tmp_path / "B"
    name = sorted(p.name for p in reoriented.iterdir())[0]
    one = tmp_path / "one"
    one.mkdir()
    (one / name).write_bytes((hippo / "imagesTr" / name).read_bytes())
    assert cli.main(["predict", str(exported), str(one), "--out", str(a)]) == 0
    only = tmp_path / "only"
    only.mkdir()
    (only / name).write_bytes((reoriented / name).read_bytes())
    assert cli.main(["predict", str(exported), str(only), "--out", str(b)]) == 0
    ras = np.asarray(nib.load(a / name).dataobj)
    lps = np.asarray(nib.load(b / name).dataobj)
    np.testing.assert_array_equal(ras[::-1, ::-1], lps)


def test_dicom_seg_reads_back_in_highdicom(dicom_prediction, dicom):
    result = read_json(dicom_prediction / "predictions.json")
    for case in result["cases"]:
        seg = hd.seg.segread(dicom_prediction / case["seg"])
        assert seg.number_of_segments == 2
        assert [d.SegmentLabel for d in seg.SegmentSequence] == ["Anterior", "Posterior"]
        volume = seg.get_volume(combine_segments=True)
        mask = np.asarray(nib.load(dicom_prediction / case["mask"]).dataobj)
        assert sorted(volume.array.shape) == sorted(mask.shape)
        assert np.bincount(volume.array.ravel(), minlength=3).tolist() == \
            np.bincount(mask.ravel(), minlength=3).tolist()
        studies = {pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID
                   for p in dicom.rglob("*.dcm")}
        assert seg.StudyInstanceUID in studies   # displayed within the source study
        assert seg.PatientIdentityRemoved == "YES"
        assert str(seg.PatientID).startswith("subj-")
        assert not seg.get("PatientBirthDate") and not seg.get("AccessionNumber")


def _seg_text_without_references(path: Path) -> str:
    """Every value of a SEG except the source-series references, as text."""
    ds = pydicom.dcmread(path)
    values = [str(e.value) for e in ds.iterall()
              if e.keyword not in REFERENCE_KEYWORDS and e.VR not in ("SQ", "OB", "OW")]
    values += [str(e.value) for e in ds.file_meta]
    return "\n".join(values)


def test_no_identifier_reaches_any_output(dicom_prediction, dicom, exported, tmp_path):
    files = sorted(dicom.rglob("*.dcm"))
    planted = planted_identifiers(dicom)
    uids = set()
    for path in files:
        uids |= phi.direct_identifiers(pydicom.dcmread(path, stop_before_pixels=True))
    assert planted and any(u.count(".") > 3 for u in uids)
    needles = planted | uids
    outputs = [p for p in dicom_prediction.iterdir() if not p.name.endswith(".seg.dcm")]
    assert outputs and phi.scan_for(needles, [*outputs, exported]) == []
    for seg in dicom_prediction.glob("*.seg.dcm"):
        text = tmp_path / f"{seg.name}.txt"
        text.write_text(_seg_text_without_references(seg))
        assert phi.scan_for(needles, [text]) == []
        ds = pydicom.dcmread(seg)
        assert not phi.contains_identifier(str(ds.PatientName), planted)


def test_no_seg_writes_no_dicom(exported, dicom, tmp_path):
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(exported), str(dicom), "--out", str(out), "--no-seg"]) == 0
    assert not list(out.glob("*.dcm")) and len(list(out.glob("*.nii.gz"))) == 2


def test_predict_runs_where_torch_cannot_be_imported(exported, reoriented, tmp_path):
    out = tmp_path / "OUT"
    board = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # the board install: any `import torch` fails
        from mias.cli import main as cli
        rc = cli.main(["predict", {str(exported)!r}, {str(reoriented)!r}, "--out",
                       {str(out)!r}])
        assert sys.modules.get("torch") is None and "monai" not in sys.modules
        sys.exit(rc)
    """)
    done = subprocess.run([sys.executable, "-c", board], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(json.loads((out / "predictions.json").read_text())["cases"]) == 2


def test_out_of_range_scans_are_flagged(exported, hippo, tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    src = nib.load(sorted((hippo / "imagesTr").glob("*.nii.gz"))[0])
    big = nib.Nifti1Image(np.asarray(src.dataobj) * 40.0, src.affine * np.diag([0.5, 0.5, 0.5, 1]))
    nib.save(big, scans / "odd.nii.gz")
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(exported), str(scans), "--out", str(out)]) == 0
    warnings = read_json(out / "predictions.json")["cases"][0]["warnings"]
    assert any(w.startswith("spacing") for w in warnings)
    assert any(w.startswith("mean intensity") for w in warnings)


def test_bad_scan_exits_2_naming_it_and_writes_nothing(exported, reoriented, tmp_path, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    for p in reoriented.iterdir():
        (scans / p.name).write_bytes(p.read_bytes())
    broken = scans / "zz_broken.nii.gz"
    broken.write_bytes(b"not a nifti at all")
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(exported), str(scans), "--out", str(out)]) == 2
    assert "zz_broken.nii.gz" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_model_without_metadata_is_bad_input(tmp_path, reoriented, capsys):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"garbage")
    assert cli.main(["predict", str(fake), str(reoriented), "--out", str(tmp_path / "O")]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_nonfinite_voxels_and_a_missing_spacing_are_said_not_hidden(exported, hippo, dicom,
                                                                      tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    src = nib.load(sorted((hippo / "imagesTr").glob("*.nii.gz"))[0])
    data = np.asarray(src.dataobj, dtype=np.float32)
    data[0, 0, :3] = [np.nan, np.inf, -np.inf]
    nib.save(nib.Nifti1Image(data, src.affine), scans / "holes.nii.gz")
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(exported), str(scans), "--out", str(out)]) == 0
    (case,) = read_json(out / "predictions.json")["cases"]
    assert any(w.startswith("3 voxel(s) are NaN or infinite") for w in case["warnings"])
    assert case["volumes_mm3"]

    nospacing = tmp_path / "dicom"
    series = sorted({p.parent for p in dicom.rglob("*.dcm")})[0]
    nospacing.mkdir()
    for path in sorted(series.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(nospacing / path.name)
    out = tmp_path / "OUT2"
    assert cli.main(["predict", str(exported), str(nospacing), "--out", str(out),
                     "--no-seg"]) == 0
    (case,) = read_json(out / "predictions.json")["cases"]
    assert case["volumes_mm3"] is None
    assert any("no pixel spacing" in w for w in case["warnings"])


@pytest.mark.parametrize("spacing", [0.0, float("nan")])
def test_a_nifti_spacing_of_zero_or_nan_gives_no_invented_volume(exported, hippo, tmp_path,
                                                                   spacing):
    scans = tmp_path / "scans"
    scans.mkdir()
    src = nib.load(sorted((hippo / "imagesTr").glob("*.nii.gz"))[0])
    header = nib.Nifti1Header()   # no qform or sform: pixdim is the only voxel size
    header.set_data_shape(src.shape)
    header.set_xyzt_units("mm")
    header.set_zooms(src.header.get_zooms()[:3])
    path = scans / "flat.nii"
    nib.save(nib.Nifti1Image(np.asarray(src.dataobj, dtype=np.float32), None, header), path)
    raw = bytearray(path.read_bytes())   # nibabel would repair a zero pixdim on saving
    raw[80:84] = struct.pack("<f", spacing)   # pixdim[1] (the header is little-endian)
    path.write_bytes(bytes(raw))
    out = tmp_path / "OUT"
    rc = cli.main(["predict", str(exported), str(scans), "--out", str(out)])
    if rc == 0:
        (case,) = read_json(out / "predictions.json")["cases"]
        assert case["volumes_mm3"] is None and case["warnings"]
    else:
        assert rc == 2 and not out.exists()


def test_a_model_whose_input_disagrees_with_its_metadata_is_bad_input(exported, reoriented,
                                                                       tmp_path, capsys):
    """Metadata describing another window (edited, or copied from another export) is refused
    when the model is opened, naming the file, before any scan is read."""
    import onnx

    from mias.onnx_export import with_metadata

    proto = onnx.load(str(exported))
    meta = {p.key: p.value for p in proto.metadata_props}
    inference = json.loads(meta["mias.inference"])
    inference["window"] = [w * 2 for w in inference["window"]]
    edited = tmp_path / "model.onnx"
    edited.write_bytes(with_metadata(proto.SerializeToString(),
                                     {"mias.inference": json.dumps(inference)}))
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(edited), str(reoriented), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.onnx" in err and "metadata describes" in err and "mias export" in err
    assert not out.exists()
