"""DICOM as it comes: objects that cannot be a case are skipped and counted; a broken file
stops the run naming it and `--skip-broken`, or is left out and listed with that option."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import JPEG2000Lossless, generate_uid

from mias.cli.main import main
from mias.data import phi
from mias.data.prepare import PrepareConfig
from mias.data.readers import discover, load_case
from mias.data.readers.dicom_pixels import check_decodable
from mias.data.readers.dicom_skips import (
    BROKEN_SERIES,
    COLOUR,
    DERIVED,
    LOCALIZER,
    MALFORMED,
    NO_GEOMETRY,
    NO_SERIES_UID,
    NON_IMAGE,
    TRUNCATED,
    UNDECODABLE,
    BrokenFile,
    header_int,
)
from mias.errors import InputError

# pydicom warns about the malformed values these tests plant, and about its own odd files.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
VOLUME = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent


def rewrite(src: Path, dst: Path, edit: Callable[[Dataset], None]) -> Path:
    """A copy of `src` at `dst`, its dataset changed by `edit`."""
    ds = pydicom.dcmread(src)
    edit(ds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


def truncate(path: Path) -> Path:
    """Cut the end of the pixel data, as an interrupted copy does."""
    path.write_bytes(path.read_bytes()[:-40])
    return path


def malformed(ds: Dataset, keyword: str, value: bytes) -> None:
    """Store `value` as is, past pydicom's checks: what a faulty writer leaves in a file."""
    tag = Tag(keyword)
    ds._dict[tag] = RawDataElement(tag, "IS", len(value), value, 0, False, True)


def undecodable(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"


def prepare_cli(data: Path, out: Path, *extra: str) -> int:
    return main(["prepare", str(data), "--out", str(out), "--workers", "1", *extra])


def test_objects_that_cannot_be_a_case_are_skipped_and_counted(tmp_path, write_series,
                                                                write_multiframe):
    src = write_series(tmp_path / "case01", VOLUME)[0]

    def colour(ds: Dataset) -> None:
        ds.SeriesInstanceUID = generate_uid()
        ds.set_pixel_data(np.zeros((5, 6, 3), np.uint8), "RGB", 8, generate_instance_uid=False)

    def segmentation(ds: Dataset) -> None:
        ds.Modality, ds.SeriesInstanceUID = "SEG", generate_uid()

    def report(ds: Dataset) -> None:
        ds.Modality, ds.SeriesInstanceUID = "SR", generate_uid()
        del ds.PixelData, ds.Rows, ds.Columns

    def no_position(ds: Dataset) -> None:
        del ds.ImageOrientationPatient, ds.ImagePositionPatient

    rewrite(src, tmp_path / "screens" / "sc1", colour)
    rewrite(src, tmp_path / "seg" / "s1", segmentation)
    rewrite(src, tmp_path / "sr" / "r1", report)
    rewrite(src, tmp_path / "odd" / "u1", lambda ds: delattr(ds, "SeriesInstanceUID"))
    cine = write_multiframe(tmp_path / "cine" / "run", VOLUME)
    rewrite(cine, cine, no_position)
    write_series(tmp_path / "scout", VOLUME, extra={"ImageType": ["ORIGINAL", "PRIMARY",
                                                                  "LOCALIZER"]})
    heard: list[str] = []
    source = discover(tmp_path, warn=heard.append)
    assert len(source.cases) == 1
    assert source.skipped_objects == {COLOUR: 1, DERIVED: 1, NON_IMAGE: 1, NO_SERIES_UID: 1,
                                      NO_GEOMETRY: 1, LOCALIZER: 4}
    assert source.broken_files == {}
    assert f"skipped 4 DICOM object(s): {LOCALIZER}" in source.warnings
    assert f"skipped 1 DICOM object(s): {COLOUR}" in heard
    assert source.manifest_fields()["skipped_objects"] == source.skipped_objects


def test_nothing_usable_left_is_exit_2_with_the_counts(tmp_path, write_series):
    src = write_series(tmp_path / "staging", VOLUME[:1])[0]
    rewrite(src, tmp_path / "data" / "x1", lambda ds: delattr(ds, "SeriesInstanceUID"))
    with pytest.raises(InputError, match=f"no usable image.*1 {NO_SERIES_UID}") as info:
        discover(tmp_path / "data")
    assert info.value.exit_code == 2 and "Fix:" in info.value.message


def test_truncated_file_stops_with_exit_2_naming_it_and_the_option(tmp_path, write_series,
                                                                   capsys):
    write_series(tmp_path / "data" / "case01", VOLUME)
    bad = truncate(write_series(tmp_path / "data" / "case02", VOLUME)[1])
    assert prepare_cli(tmp_path / "data", tmp_path / "prep") == 2
    err = capsys.readouterr().err
    assert f"{bad}: truncated" in err and "--skip-broken" in err
    assert "Traceback" not in err and not (tmp_path / "prep").exists()


def test_skip_broken_lists_the_file_and_leaves_its_series_out(tmp_path, write_series):
    write_series(tmp_path / "case01", VOLUME)
    bad = truncate(write_series(tmp_path / "case02", VOLUME)[1])
    heard: list[str] = []
    source = discover(tmp_path, skip_broken=True, warn=heard.append)
    assert [c.image_paths[0].parent.name for c in source.cases] == ["case01"]
    assert source.broken_files == {TRUNCATED: 1}
    assert source.skipped_objects == {BROKEN_SERIES: len(VOLUME) - 1}
    assert any(line.startswith(f"skipped broken file case02/{bad.name}: truncated")
               for line in heard)
    assert not any(bad.name in w for w in source.warnings)


@pytest.mark.parametrize(("keyword", "value"), [("NumberOfFrames", b"1A"), ("Rows", b"6x4 ")])
def test_malformed_integer_header_is_exit_2_not_a_traceback(tmp_path, write_series, capsys,
                                                            keyword, value):
    write_series(tmp_path / "data" / "case01", VOLUME)
    bad = write_series(tmp_path / "data" / "case02", VOLUME)[0]
    rewrite(bad, bad, lambda ds: malformed(ds, keyword, value))
    assert prepare_cli(tmp_path / "data", tmp_path / "prep") == 2
    err = capsys.readouterr().err
    assert f"{bad}: {keyword}" in err and "not an integer" in err and "--skip-broken" in err
    assert "Traceback" not in err
    source = discover(tmp_path / "data", skip_broken=True)
    assert len(source.cases) == 1 and source.broken_files == {MALFORMED: 1}


def test_undecodable_pixels_fail_when_loaded_or_are_left_out_with_the_option(
        tmp_path, write_series):
    write_series(tmp_path / "case01", VOLUME)
    bad = write_series(tmp_path / "case02", VOLUME)[2]
    rewrite(bad, bad, undecodable)
    source = discover(tmp_path)   # the default path decodes nothing at discovery
    case = next(c for c in source.cases if bad in c.image_paths)
    with pytest.raises(BrokenFile, match="cannot be decoded") as info:
        load_case(case, ())
    assert str(bad) in info.value.message and "--skip-broken" in info.value.message
    source = discover(tmp_path, skip_broken=True)
    assert len(source.cases) == 1 and bad not in source.cases[0].image_paths
    assert source.broken_files == {UNDECODABLE: 1}
    assert source.skipped_objects == {BROKEN_SERIES: len(VOLUME) - 1}


def test_prepare_with_skip_broken_keeps_file_names_out_of_the_manifest(tmp_path, write_series,
                                                                       capsys):
    data = tmp_path / "data"
    for n in range(4):
        write_series(data / f"case{n}", VOLUME + n, patient={"PatientID": f"P{n}"}, seed=n)
    name = "Doe_Jane_1.2.826.0.1.3680043.8.498.999"
    bad = truncate(write_series(data / name, VOLUME)[0])
    table = tmp_path / "labels.csv"
    table.write_text("case,label\n" + "".join(f"case{n},{n % 2}\n" for n in range(4)))
    prep = tmp_path / "prep"
    assert prepare_cli(data, prep, "--skip-broken", "--task", "classification", "--labels",
                       str(table), "--input-shape", "8x8x4") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"skipped broken file {name}/{bad.name}" in err
    manifest = json.loads((prep / "manifest.json").read_text())
    assert len(manifest["cases"]) == 4
    assert manifest["broken_files"] == {TRUNCATED: 1}
    assert manifest["skipped_objects"] == {BROKEN_SERIES: len(VOLUME) - 1}
    assert phi.scan_for([name, "Doe_Jane", bad.name], [prep], whole_word=False) == []


def test_the_pydicom_corpus_never_ends_in_a_traceback(tmp_path, capsys):
    data = tmp_path / "corpus"
    data.mkdir()
    for path in TEST_FILES.glob("*.dcm"):
        shutil.copy(path, data)
    assert prepare_cli(data, tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "MR_truncated.dcm: truncated" in err
    assert "--skip-broken" in err
    assert prepare_cli(data, tmp_path / "b", "--skip-broken") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "mix modalities" in err
    assert "skipped broken file MR_truncated.dcm: truncated" in err
    assert f"DICOM object(s): {COLOUR}" in err


@pytest.mark.parametrize(("name", "syntax"), [
    ("image_dfl.dcm", "1.2.840.10008.1.2.1.99"),          # deflate
    ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),          # RLE
    ("rtdose_rle.dcm", "1.2.840.10008.1.2.5"),            # RLE, multi-frame
    ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51"),        # JPEG extended, 12 bits
    ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80"),
    ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81"),
    ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90"),
    ("693_J2KI.dcm", "1.2.840.10008.1.2.4.91"),           # JPEG 2000 lossy
])
def test_greyscale_transfer_syntaxes_decode(name, syntax):
    path = TEST_FILES / name
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    check_decodable(path)


@pytest.mark.parametrize(("name", "syntax"), [
    ("SC_rgb_jpeg.dcm", "1.2.840.10008.1.2.4.50"),        # JPEG baseline
    ("SC_rgb_jpeg_gdcm.dcm", "1.2.840.10008.1.2.4.70"),   # JPEG lossless (SV1)
])
def test_jpeg_decoders_are_installed(name, syntax):
    ds = pydicom.dcmread(TEST_FILES / name)
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.pixel_array.shape[-1] == 3


def test_a_deflated_file_is_a_case(tmp_path):
    shutil.copy(TEST_FILES / "image_dfl.dcm", tmp_path / "x.dcm")
    source = discover(tmp_path)
    assert len(source.cases) == 1 and source.broken_files == {}
    assert load_case(source.cases[0], ()).image.shape == (1, 512, 512)


def test_header_int_names_the_file():
    ds = Dataset()
    ds.Rows, ds.SeriesNumber = 4, None
    assert header_int(Path("f"), ds, "Rows", minimum=1) == 4
    assert header_int(Path("f"), ds, "SeriesNumber", 0) == 0
    malformed(ds, "NumberOfFrames", b"1A")
    with pytest.raises(BrokenFile, match="NumberOfFrames '1A' is not an integer"):
        header_int(Path("f"), ds, "NumberOfFrames", 1)
    with pytest.raises(BrokenFile, match="below 5"):
        header_int(Path("f"), ds, "Rows", minimum=5)
    with pytest.raises(BrokenFile, match="no Columns"):
        header_int(Path("f"), ds, "Columns")


def test_broken_file_survives_a_worker_process():
    error = pickle.loads(pickle.dumps(BrokenFile("a.dcm", "truncated", TRUNCATED,
                                                 series_uid="1.2.3")))
    assert error.reason == TRUNCATED and error.series_uid == "1.2.3"
    assert error.message.count("--skip-broken") == 1


def test_skip_broken_is_part_of_the_job_fingerprint(tmp_path):
    assert PrepareConfig(skip_broken=True).fingerprint(tmp_path) != \
        PrepareConfig().fingerprint(tmp_path)
