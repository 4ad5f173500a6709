from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mias.data.synth import create_generator
from mias.data.synth.cohort import build_cohort


@pytest.fixture(scope="module")
def cohort() -> tuple[list, list]:
    generator = create_generator("hippocampus")
    scans = build_cohort(generator, 40, seed=3)
    return scans, [generator.generate(s) for s in scans]


def test_volume_falls_with_age_and_is_larger_in_men(cohort: tuple[list, list]) -> None:
    scans, cases = cohort
    volume = np.array([c.target for c in cases])
    age = np.array([s.age for s in scans])
    male = np.array([s.subject.sex == "M" for s in scans], dtype=float)
    assert np.corrcoef(age, volume)[0, 1] < -0.5
    design = np.column_stack([np.ones_like(age), age, male])
    _, slope_age, male_effect = np.linalg.lstsq(design, volume, rcond=None)[0]
    assert slope_age < 0 and male_effect > 0
    assert 1.5 < volume.mean() < 3.5


def test_shapes_vary_within_task04_range(cohort: tuple[list, list]) -> None:
    shapes = np.array([c.label.shape for c in cohort[1]])
    assert (shapes >= [31, 40, 24]).all() and (shapes <= [43, 59, 47]).all()
    assert len({tuple(s) for s in shapes}) > 20
    assert np.all(np.abs(np.median(shapes, axis=0) - [35, 50, 36]) < 6)


def test_anterior_label_lies_anterior_of_posterior(cohort: tuple[list, list]) -> None:
    for case in cohort[1][:8]:
        world_y = [(case.affine @ [*np.argwhere(case.label == v).mean(axis=0), 1.0])[1]
                   for v in (1, 2)]
        assert world_y[0] > world_y[1]


def test_follow_up_scans_share_the_subject_and_show_atrophy(cohort: tuple[list, list]) -> None:
    scans, cases = cohort
    per_subject = Counter(s.subject.subject_id for s in scans)
    twice = [sid for sid, n in per_subject.items() if n == 2]
    assert len(twice) == 4 and max(per_subject.values()) == 2
    for sid in twice:
        first, second = sorted((s for s in scans if s.subject.subject_id == sid),
                               key=lambda s: s.visit)
        assert second.age > first.age and second.subject == first.subject
        assert cases[second.index].target < cases[first.index].target


def test_image_looks_like_mri(cohort: tuple[list, list]) -> None:
    case = cohort[1][0]
    image = case.image[0].astype(float)
    assert case.image.dtype == np.int16 and case.image.shape[0] == 1
    assert image.min() >= 0
    inside, outside = image[case.label > 0], image[case.label == 0]
    # Grey-matter-like: between the dark CSF and the bright white matter around it.
    assert np.percentile(outside, 10) < inside.mean() < np.percentile(outside, 90)
    assert len(np.unique(case.image)) > 200
