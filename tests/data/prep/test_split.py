import json

import numpy as np
import pytest

from mias.data.demographics import age_bin
from mias.data.split import label_strata, label_stratum, quantile_edges, split_cases
from mias.errors import InputError


@pytest.fixture
def sixty(make_record):
    """60 cases from 45 patients (15 scanned twice), mixed sex, ages and two classes."""
    rng = np.random.default_rng(3)
    records = []
    for i in range(60):
        subject = f"p{i // 2:02d}" if i < 30 else f"p{i:02d}"
        records.append(
            make_record(
                f"c{i:02d}",
                subject_id=subject,
                label=int(i % 3 == 0),
                sex=str(rng.choice(["M", "F"])),
                age=float(rng.integers(8, 90)),
            )
        )
    return records


def _strata(records):
    return label_strata(records, kind="classification", label_stats={})


def test_patient_level_no_subject_in_two_splits(sixty):
    result = split_cases(sixty, label_strata=_strata(sixty), test_fraction=0.15, seed=0)
    subject = {r.case_id: r.subject_id for r in sixty}
    seen = {name: {subject[c] for c in ids} for name, ids in result.splits.items()}
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]
    assert sorted(c for ids in result.splits.values() for c in ids) == sorted(
        r.case_id for r in sixty
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_within_tolerance(sixty, seed):
    result = split_cases(sixty, label_strata=_strata(sixty), seed=seed, tolerance=0.1)
    assert result.within_tolerance and result.max_deviation <= 0.1
    assert abs(len(result.splits["val"]) - 12) <= 2
    val = [r for r in sixty if r.case_id in set(result.splits["val"])]
    share = np.mean([r.label for r in val])
    assert share == pytest.approx(np.mean([r.label for r in sixty]), abs=0.1)
    assert result.distributions["val"]["age_bin"].keys() <= {age_bin(r.age) for r in sixty}
    json.dumps(result.to_dict())


def test_same_seed_same_split_and_different_seed_differs(sixty):
    strata = _strata(sixty)
    a = split_cases(sixty, label_strata=strata, seed=5)
    assert a == split_cases(sixty, label_strata=strata, seed=5)
    assert a.splits != split_cases(sixty, label_strata=strata, seed=6).splits


@pytest.mark.parametrize("n", [2, 3, 4])
def test_tiny_datasets_still_get_a_validation_case(make_record, n):
    records = [make_record(f"c{i}", label=i % 2, sex="M") for i in range(n)]
    result = split_cases(records, label_strata=_strata(records), seed=0)
    assert result.splits["val"] and result.splits["train"]


def test_one_patient_cannot_be_split(make_record):
    records = [make_record(f"c{i}", subject_id="p0") for i in range(3)]
    with pytest.raises(InputError, match="patient"):
        split_cases(records, label_strata={}, seed=0)


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.0), (0.6, 0.4), (1.2, 0.0), (0.2, -0.1)])
def test_bad_fractions_are_input_errors(make_record, val, test):
    with pytest.raises(InputError):
        split_cases(
            [make_record("a"), make_record("b")],
            label_strata={},
            val_fraction=val,
            test_fraction=test,
        )


def test_to_dict_has_the_splits_json_keys(sixty):
    d = split_cases(sixty, label_strata=_strata(sixty), test_fraction=0.1).to_dict()
    assert {"train", "val", "test", "max_deviation", "within_tolerance"} <= d.keys()


def test_label_stratum_per_task_kind():
    assert label_stratum("classification", 2, {}) == "class 2"
    edges = quantile_edges([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], n_bins=3)
    assert edges == pytest.approx([8 / 3, 13 / 3])
    assert [label_stratum("regression", v, None, edges) for v in (1.0, 3.0, 6.0)] == [
        "q1",
        "q2",
        "q3",
    ]
    stats = {"size_key": "volume_ml", "foreground_volume_ml": 5.0}
    assert label_stratum("segmentation", None, stats, [2.0, 4.0]) == "q3"
    assert label_stratum("segmentation", None, {}, [2.0]) == "unknown"
    assert label_stratum("regression", 1.0, None) == "all"


def test_label_strata_bins_segmentation_by_foreground_size(make_record):
    records = [make_record(f"c{i}") for i in range(6)]
    stats = {
        r.case_id: {"size_key": "volume_ml", "foreground_volume_ml": float(i)}
        for i, r in enumerate(records)
    }
    strata = label_strata(records, kind="segmentation", label_stats=stats, n_bins=2)
    assert [strata[r.case_id] for r in records] == ["q1"] * 3 + ["q2"] * 3
