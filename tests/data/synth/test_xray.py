from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mias.data.synth import create_generator
from mias.data.synth.cohort import build_cohort


@pytest.fixture(scope="module")
def cohort() -> tuple[list, list]:
    generator = create_generator("xray")
    scans = build_cohort(generator, 40, seed=4)
    return scans, [generator.generate(s) for s in scans]


def test_projection_images_with_findings(cohort: tuple[list, list]) -> None:
    cases = cohort[1]
    for case in cases:
        assert case.image.shape == (1, 128, 128) and case.image.dtype == np.uint16
        assert case.image.max() < 4096
        assert case.target == int(case.label.any())
    assert 0.15 < np.mean([c.target for c in cases]) < 0.7
    assert {c.acquisition["modality"] for c in cases} == {"CR", "DX"}
    assert {c.acquisition["view_position"] for c in cases} == {"PA", "AP"}


def test_some_cases_are_stored_flipped_and_the_affine_says_so(
        cohort: tuple[list, list]) -> None:
    cases = cohort[1]
    orientations = Counter(tuple(c.acquisition["patient_orientation"]) for c in cases)
    assert orientations[("L", "F")] > orientations[("R", "F")] > 0
    for case in cases:
        columns, rows = case.acquisition["patient_orientation"]
        assert np.sign(case.affine[0, 0]) == (1 if columns == "R" else -1)
        assert np.sign(case.affine[1, 1]) == (1 if rows == "H" else -1)


def test_flipped_case_mirrors_the_unflipped_one(cohort: tuple[list, list]) -> None:
    scans, cases = cohort
    index = next(i for i, c in enumerate(cases)
                 if tuple(c.acquisition["patient_orientation"]) == ("R", "F"))
    upright = create_generator("xray", flipped=False).generate(scans[index])
    assert np.array_equal(cases[index].image[0], upright.image[0][::-1, :])
    # The heart (bright, mid-lower) lies on the patient's left: image right when upright.
    lower = upright.image[0][:, 70:100].astype(float)
    assert lower[70:100].mean() > lower[28:58].mean()
