"""DICOM reader: series stacking, multi-frame, radiographs, LPS→RAS geometry, masks."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from mias.data.imputation import (
    AGE_FROM_DATES,
    ORIENTATION_NOMINAL,
    SLICE_THICKNESS_FROM_SPACING,
    SPACING_FROM_IMAGER,
    SPACING_FROM_POSITIONS,
    SPACING_FROM_THICKNESS,
)
from mias.data.readers import discover, impute, load_case
from mias.records import CaseRecord

SLICES, ROWS, COLS = 4, 5, 6


def coded_volume() -> np.ndarray:
    """[slice, row, column] with value 100·k + 10·j + i: every voxel says where it is."""
    k, j, i = np.meshgrid(range(SLICES), range(ROWS), range(COLS), indexing="ij")
    return (100 * k + 10 * j + i).astype(np.int16)


def test_shuffled_multi_file_series_is_stacked_by_position(tmp_path, write_series):
    write_series(tmp_path / "case01", coded_volume(), delta=(0.8, 0.5), step=2.0,
                 rescale=(2.0, -5.0), seed=3)
    source = discover(tmp_path)
    assert (source.format, source.kind, source.modality) == ("dicom", "unlabeled", "MR")
    (case,) = source.cases
    rec = case.record
    assert rec.case_id == "case01" and rec.image_files == ("case01",)
    assert rec.shape == (COLS, ROWS, SLICES)
    assert rec.spacing == pytest.approx((0.5, 0.8, 2.0))
    assert rec.imputed["spacing"] == SPACING_FROM_POSITIONS
    assert (rec.age, rec.sex) == (45.0, "F")
    assert rec.subject_id.startswith("subj-")
    attrs = rec.attributes
    assert (attrs["manufacturer"], attrs["field_strength"], attrs["study_year"]) == \
        ("ACME", 3.0, 2020)
    assert attrs["slice_spacing"] == pytest.approx(2.0)
    assert CaseRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec

    loaded = load_case(case, ())
    assert loaded.image.dtype == np.float32 and loaded.image.shape == (1, COLS, ROWS, SLICES)
    # Axial LPS → RAS flips x (columns) and y (rows); slices stay in order.
    expected = 2.0 * coded_volume().transpose(2, 1, 0)[::-1, ::-1, :] - 5.0
    np.testing.assert_array_equal(loaded.image[0], expected)
    assert loaded.nonfinite_voxels == 0
    (imputed,) = impute([rec])
    assert imputed.attributes["slice_thickness"] == pytest.approx(2.0)
    assert imputed.imputed["slice_thickness"] == SLICE_THICKNESS_FROM_SPACING


def test_spacing_agreeing_with_the_header_is_not_imputed(tmp_path, write_series):
    write_series(tmp_path / "c", coded_volume(), step=2.0, between=2.0)
    assert "spacing" not in discover(tmp_path).cases[0].record.imputed


def test_disagreeing_slice_thickness_is_flagged(tmp_path, write_series):
    write_series(tmp_path / "c", coded_volume(), step=2.0, thickness=1.0)
    rec = discover(tmp_path).cases[0].record
    assert rec.imputed["spacing"] == SPACING_FROM_POSITIONS
    assert rec.spacing[2] == pytest.approx(2.0) and rec.attributes["slice_thickness"] == 1.0


def test_anisotropic_series(tmp_path, write_series):
    write_series(tmp_path / "c", coded_volume(), delta=(0.4, 0.4), step=5.0, between=5.0)
    (case,) = discover(tmp_path).cases
    assert case.record.spacing == pytest.approx((0.4, 0.4, 5.0))
    affine = load_case(case, ()).affine
    assert np.linalg.norm(affine[:3, :3], axis=0) == pytest.approx([0.4, 0.4, 5.0])


@pytest.mark.parametrize("iop", [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1),
                                 (0.8, 0.6, 0, 0, 0, -1)])
def test_a_known_voxel_lands_at_its_ras_position(tmp_path, write_series, iop):
    volume = np.zeros((SLICES, ROWS, COLS), np.int16)
    k, j, i = 2, 1, 3
    volume[k, j, i] = 1000
    origin, delta, step = np.array([10.0, -20.0, 30.0]), (0.7, 0.9), 2.5
    write_series(tmp_path / "c", volume, iop=iop, origin=origin, delta=delta, step=step)
    loaded = load_case(discover(tmp_path).cases[0], ())
    index = np.unravel_index(np.argmax(loaded.image[0]), loaded.image.shape[1:])
    world = loaded.affine @ np.array([*index, 1.0])
    row, col = np.array(iop[:3], float), np.array(iop[3:], float)
    lps = origin + i * delta[1] * row + j * delta[0] * col + k * step * np.cross(row, col)
    np.testing.assert_allclose(world[:3], [-lps[0], -lps[1], lps[2]], atol=1e-6)
    assert nib.aff2axcodes(loaded.affine) == ("R", "A", "S")


@pytest.mark.parametrize("flip_rows", [False, True])
def test_a_mask_written_in_the_same_grid_matches(tmp_path, write_series, write_nifti,
                                                ras_affine, flip_rows):
    volume = np.zeros((SLICES, ROWS, COLS), np.int16)
    volume[1, 3, 4] = 500
    iop, origin, delta, step = (0, 1, 0, 0, 0, -1), (5.0, 6.0, 7.0), (0.5, 0.6), 1.5
    write_series(tmp_path / "case01", volume, iop=iop, origin=origin, delta=delta, step=step)
    mask = np.zeros((COLS, ROWS, SLICES), np.uint8)
    mask[4, 3, 1] = 1
    affine = ras_affine(iop, origin, delta, step)
    if flip_rows:   # dcm2niix flips the row axis and adjusts the affine to match
        mask = mask[:, ::-1, :]
        flip = np.eye(4)
        flip[1, 1], flip[1, 3] = -1, ROWS - 1
        affine = affine @ flip
    write_nifti(tmp_path / "labels" / "case01.nii.gz", mask, affine)
    source = discover(tmp_path)
    assert source.kind == "segmentation"
    assert source.label_names == ("background", "label_1")
    loaded = load_case(source.cases[0], source.label_names)
    assert loaded.label.shape == loaded.image.shape[1:]
    assert np.argmax(loaded.label) == np.argmax(loaded.image[0])
    assert loaded.label.sum() == 1


def test_enhanced_multiframe_frames_sorted_and_rescaled(tmp_path, write_enhanced):
    write_enhanced(tmp_path / "case01" / "enhanced.dcm", coded_volume(), order=[2, 0, 3, 1],
                   delta=(0.5, 0.5), step=3.0, rescale=(2.0, -10.0))
    (case,) = discover(tmp_path).cases
    assert case.record.shape == (COLS, ROWS, SLICES)
    assert case.record.spacing == pytest.approx((0.5, 0.5, 3.0))
    assert "spacing" not in case.record.imputed
    assert case.record.channel_names == ("T2 3D",)
    image = load_case(case, ()).image[0]
    np.testing.assert_array_equal(image, 2.0 * coded_volume().transpose(2, 1, 0)[::-1, ::-1]
                                  - 10.0)


@pytest.mark.parametrize(("between", "thickness", "rule"),
                         [(3.0, None, None), (None, 3.0, SPACING_FROM_THICKNESS)])
def test_classic_multiframe_uses_uniform_spacing(tmp_path, write_multiframe, between,
                                                 thickness, rule):
    write_multiframe(tmp_path / "case01" / "mf.dcm", coded_volume(), between=between,
                     thickness=thickness)
    (case,) = discover(tmp_path).cases
    assert case.record.spacing == pytest.approx((1.0, 1.0, 3.0))
    assert case.record.imputed.get("spacing") == rule
    image = load_case(case, ()).image[0]
    np.testing.assert_array_equal(image, coded_volume().transpose(2, 1, 0)[::-1, ::-1])


@pytest.mark.parametrize("modality", ["CR", "DX"])
def test_radiograph_is_a_2d_case(tmp_path, write_radiograph, write_nifti, modality):
    image = np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS)
    write_radiograph(tmp_path / "xr1" / "image.dcm", image, modality=modality)
    mask = np.zeros((COLS, ROWS), np.uint8)   # NIfTI voxel order: (column, row)
    mask[2, 4] = 1
    write_nifti(tmp_path / "labels" / "xr1.nii.gz", mask)
    source = discover(tmp_path)
    rec = source.cases[0].record
    assert (source.modality, rec.shape) == (modality, (COLS, ROWS))
    assert rec.spacing == pytest.approx((0.2, 0.2))
    assert rec.imputed["spacing"] == SPACING_FROM_IMAGER
    assert rec.imputed["orientation"] == ORIENTATION_NOMINAL
    assert rec.attributes["view_position"] == "PA"
    assert rec.attributes["patient_orientation"] == "P\\F"
    assert rec.attributes["slice_spacing"] is None
    loaded = load_case(source.cases[0], source.label_names)
    assert loaded.image.shape == (1, COLS, ROWS) and loaded.label.shape == (COLS, ROWS)
    np.testing.assert_array_equal(loaded.image[0], image.T[::-1, ::-1])
    assert loaded.image[0][loaded.label == 1] == image[4, 2]


def test_monochrome1_is_inverted(tmp_path, write_radiograph):
    image = np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS)
    write_radiograph(tmp_path / "xr" / "image.dcm", image, photometric="MONOCHROME1",
                     spacing_keyword="PixelSpacing")
    loaded = load_case(discover(tmp_path).cases[0], ())
    np.testing.assert_array_equal(loaded.image[0], (image.max() - image).T[::-1, ::-1])


def test_series_of_a_case_become_ordered_channels(tmp_path, write_series):
    volume = coded_volume()
    write_series(tmp_path / "c1" / "a", volume, description="T1", number=1)
    write_series(tmp_path / "c1" / "b", volume + 1, description="FLAIR", number=2)
    source = discover(tmp_path)
    assert source.channel_names == ("FLAIR", "T1")
    rec = source.cases[0].record
    assert rec.image_files == ("c1/b", "c1/a")
    image = load_case(source.cases[0], ()).image
    assert image.shape[0] == 2
    np.testing.assert_array_equal(image[0] - image[1], 1.0)


def test_age_from_study_and_birth_dates(tmp_path, write_series):
    patient = {"PatientName": "Roe^Rick", "PatientID": "X77", "PatientBirthDate": "19800102",
               "StudyDate": "20200102", "PatientSex": "U"}
    write_series(tmp_path / "c", coded_volume(), patient=patient)
    rec = discover(tmp_path).cases[0].record
    assert rec.age == pytest.approx(40.0, abs=0.01)
    assert rec.imputed["age"] == AGE_FROM_DATES
    assert rec.sex == "unknown"   # DICOM PatientSex is M/F/O: anything else is not read
    assert "1980" not in str(rec.to_dict())


def test_localizer_is_skipped_with_a_warning(tmp_path, write_series):
    write_series(tmp_path / "c", coded_volume())
    write_series(tmp_path / "c" / "loc", coded_volume()[:2], description="loc",
                 extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    source = discover(tmp_path)
    assert len(source.cases[0].record.channel_names) == 1
    assert any("localizer" in w for w in source.warnings)


def test_literal_data_subfolder_with_participants(tmp_path, write_series, write_nifti,
                                                  ras_affine):
    write_series(tmp_path / "DATA" / "case01", coded_volume(), step=2.0)
    write_nifti(tmp_path / "DATA" / "labels" / "case01.nii.gz",
                np.ones((COLS, ROWS, SLICES), np.uint8),
                ras_affine((1, 0, 0, 0, 1, 0), (0, 0, 0), (1.0, 1.0), 2.0))
    (tmp_path / "participants.tsv").write_text("participant_id\tage\tsex\ncase01\t52\tM\n")
    source = discover(tmp_path)
    rec = source.cases[0].record
    assert rec.image_files == ("DATA/case01",) and rec.label_file == "DATA/labels/case01.nii.gz"
    assert (rec.age, rec.sex) == (52.0, "M")   # the curated table wins over the headers
