"""Dataset-level imputation rules: each fills what it may and records how."""

from __future__ import annotations

import numpy as np
import pytest

from mias.data.imputation import (
    AGE_MEDIAN,
    FIELD_STRENGTH_MODE,
    MANUFACTURER_MODE,
    SEX_UNKNOWN,
    SLICE_THICKNESS_FROM_SPACING,
    SPACING_NOMINAL,
    available_rules,
    create_rule,
)
from mias.data.readers import discover, impute
from mias.data.readers.source import blank_attributes
from mias.errors import InputError
from mias.records import CaseRecord


def _rec(case_id, modality="MR", *, age=None, sex="unknown", **attributes) -> CaseRecord:
    return CaseRecord(case_id=case_id, subject_id=case_id, image_files=(f"{case_id}.nii.gz",),
                      modality=modality, spacing=(1.0, 1.0, 1.0), shape=(4, 4, 4), age=age,
                      sex=sex, attributes=blank_attributes(**attributes))


def test_age_is_the_flagged_median_of_the_modality_group():
    records = [_rec("a", age=40.0), _rec("b", age=50.0), _rec("c", age=70.0), _rec("d"),
               _rec("e", "CT", age=10.0), _rec("f", "CT"), _rec("g", "US")]
    out = {r.case_id: r for r in impute(records)}
    assert (out["d"].age, out["d"].imputed["age"]) == (50.0, AGE_MEDIAN)
    assert (out["f"].age, out["f"].imputed["age"]) == (10.0, AGE_MEDIAN)
    assert out["g"].age is None and "age" not in out["g"].imputed
    assert "age" not in out["a"].imputed


def test_sex_is_never_imputed_by_mode():
    records = [_rec("a", sex="F"), _rec("b", sex="F"), _rec("c")]
    out = impute(records)
    assert out[2].sex == "unknown" and out[2].imputed["sex"] == SEX_UNKNOWN
    assert "sex" not in out[0].imputed


def test_manufacturer_is_the_mode_of_the_modality_group():
    records = [_rec("a", manufacturer="GE"), _rec("b", manufacturer="Siemens"),
               _rec("c", manufacturer="Siemens"), _rec("d"), _rec("e", "CT")]
    out = impute(records)
    assert out[3].attributes["manufacturer"] == "Siemens"
    assert out[3].imputed["manufacturer"] == MANUFACTURER_MODE
    assert out[4].attributes["manufacturer"] is None


def test_mode_ties_do_not_depend_on_order():
    records = [_rec("a", manufacturer="Philips"), _rec("b", manufacturer="GE"), _rec("c")]
    assert impute(records)[2].attributes["manufacturer"] == "GE"
    assert impute(records[::-1])[0].attributes["manufacturer"] == "GE"


def test_field_strength_is_the_mode_of_modality_and_manufacturer():
    records = [_rec("a", manufacturer="GE", field_strength=1.5),
               _rec("b", manufacturer="GE", field_strength=1.5),
               _rec("c", manufacturer="Siemens", field_strength=3.0),
               _rec("d", manufacturer="Siemens"), _rec("e", manufacturer="GE"),
               _rec("f", "CT", manufacturer="GE")]
    out = impute(records)
    assert (out[3].attributes["field_strength"], out[4].attributes["field_strength"]) == \
        (3.0, 1.5)
    assert out[3].imputed["field_strength"] == FIELD_STRENGTH_MODE
    assert out[5].attributes["field_strength"] is None


def test_slice_thickness_is_the_slice_spacing():
    out = impute([_rec("a", slice_spacing=2.5), _rec("b", slice_thickness=1.0,
                                                     slice_spacing=2.5), _rec("c")])
    assert out[0].attributes["slice_thickness"] == 2.5
    assert out[0].imputed["slice_thickness"] == SLICE_THICKNESS_FROM_SPACING
    assert out[1].attributes["slice_thickness"] == 1.0 and "slice_thickness" not in \
        out[1].imputed
    assert out[2].attributes["slice_thickness"] is None


def test_impute_is_idempotent_and_rules_are_registered():
    records = [_rec("a", age=30.0, manufacturer="GE", slice_spacing=1.0), _rec("b")]
    once = impute(records)
    assert impute(once) == once
    assert available_rules() == ["slice_thickness", "age", "sex", "manufacturer",
                                 "field_strength"]
    assert impute(records, rules=["age"])[1].imputed == {"age": AGE_MEDIAN}
    with pytest.raises(InputError, match="unknown imputation rule"):
        create_rule("nope")


def test_radiograph_without_any_pixel_spacing_gets_nominal_spacing(tmp_path,
                                                                   write_radiograph):
    write_radiograph(tmp_path / "x" / "i.dcm", np.ones((3, 4), np.int16), spacing_keyword=None)
    rec = discover(tmp_path).cases[0].record
    assert rec.spacing == (1.0, 1.0) and rec.imputed["spacing"] == SPACING_NOMINAL
