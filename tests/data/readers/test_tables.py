"""`case,label` tables (classification, regression) and participants.tsv."""

from __future__ import annotations

import numpy as np
import pytest

from mias.data.readers import discover
from mias.data.readers.participants import normalise_sex, parse_age


@pytest.fixture
def three_cases(tmp_path, write_nifti):
    for name in ("a", "b", "c"):
        write_nifti(tmp_path / "data" / f"{name}.nii.gz", np.zeros((3, 3, 3), np.float32))
    return tmp_path / "data"


def _csv(path, rows):
    path.write_text("case,label\n" + "".join(f"{c},{v}\n" for c, v in rows))
    return path


def test_string_labels_are_sorted_classes(three_cases, tmp_path):
    table = _csv(tmp_path / "t.csv", [("a", "tumour"), ("b", "normal"), ("c", "tumour")])
    source = discover(three_cases, labels_csv=table)
    assert (source.kind, source.label_names) == ("classification", ("normal", "tumour"))
    assert [c.record.label for c in source.cases] == [1, 0, 1]
    assert all(c.label_path is None for c in source.cases)


def test_float_labels_are_a_regression(three_cases, tmp_path):
    table = _csv(tmp_path / "t.csv", [("a", "3.25"), ("b", "2.5"), ("c", "4")])
    source = discover(three_cases, labels_csv=table)
    assert (source.kind, source.label_names) == ("regression", ())
    assert [c.record.label for c in source.cases] == [3.25, 2.5, 4.0]


def test_integer_labels_are_classes_unless_the_task_says_regression(three_cases, tmp_path):
    table = _csv(tmp_path / "t.csv", [("a", "1"), ("b", "0"), ("c", "1")])
    source = discover(three_cases, labels_csv=table)
    assert (source.kind, source.label_names) == ("classification", ("0", "1"))
    regression = discover(three_cases, labels_csv=table, task="regression")
    assert [c.record.label for c in regression.cases] == [1.0, 0.0, 1.0]


def test_participants_table_gives_demographics_and_subject(three_cases, write_nifti):
    (three_cases / "participants.tsv").write_text(
        "participant_id\tsubject\tage\tsex\n"
        "a\tP1\t61\tmale\nb\tP1\t89+\tF\nc\tn/a\tn/a\twoman\n")
    records = {c.record.case_id: c.record for c in discover(three_cases).cases}
    assert (records["a"].age, records["a"].sex) == (61.0, "M")
    assert (records["b"].age, records["b"].sex) == (89.0, "F")
    assert (records["c"].age, records["c"].sex) == (None, "F")
    assert records["a"].subject_id == records["b"].subject_id != "P1"
    assert records["a"].subject_id.startswith("subj-")
    assert records["c"].subject_id == "c"


@pytest.mark.parametrize(("raw", "sex"), [("M", "M"), ("male", "M"), ("f", "F"),
                                          ("Female", "F"), ("other", "O"), ("", "unknown"),
                                          ("?", "unknown"), ("n/a", "unknown")])
def test_sex_normalisation(raw, sex):
    assert normalise_sex(raw) == sex


@pytest.mark.parametrize(("raw", "age"), [("45", 45.0), ("3.5", 3.5), ("89+", 89.0),
                                          ("n/a", None), ("old", None), ("-3", None)])
def test_participant_age(raw, age):
    assert parse_age(raw) == age
