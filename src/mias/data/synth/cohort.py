"""The synthetic cohort: subjects, follow-up scans, ages, study dates and fake identifiers.

About one subject in ten is scanned twice, one to three years apart, so that a split by
case leaks anatomy between train and validation and a split by subject is needed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from mias.data.synth.base import CaseGenerator, Scan, Subject

FOLLOW_UP_FRACTION = 0.1
MAX_AGE = 90.0
_FIRST_STUDY = dt.date(2014, 1, 1)
_DAYS_PER_YEAR = 365.2425

_FEMALE = ("JANE", "MARY", "ANNA", "LUCY", "EMMA", "SARAH", "CLARA", "NORA", "ALICE", "IRENE")
_MALE = ("JOHN", "PETER", "DAVID", "MARK", "PAUL", "HENRY", "SAMUEL", "OSCAR", "LEON", "VICTOR")
_FAMILY = ("DOE", "ROE", "SMITH", "MILLER", "HARTMANN", "NOVAK", "MORENO", "KOWALSKI",
           "BERGSTROM", "OKAFOR", "TANAKA", "DUBOIS", "FERREIRA", "LINDQVIST", "MORGAN")
_INSTITUTIONS = (
    ("Springfield General Hospital", "742 Evergreen Terrace, Springfield"),
    ("Riverside University Medical Centre", "12 Harbour Road, Riverside"),
    ("St. Elsewhere Imaging Clinic", "5 Elm Street, Westfield"),
)


def build_cohort(generator: CaseGenerator, cases: int, seed: int) -> list[Scan]:
    """Draw `cases` scans: subjects first, then follow-ups, in a shuffled case order."""
    rng = np.random.default_rng([seed, 0])
    n_subjects = max(1, round(cases / (1.0 + FOLLOW_UP_FRACTION)))
    baseline = [_FIRST_STUDY + dt.timedelta(days=int(d))
                for d in rng.integers(0, int(6 * _DAYS_PER_YEAR), n_subjects)]
    subjects = _subjects(generator, baseline, seed, rng)
    followed = rng.choice(n_subjects, size=cases - n_subjects, replace=False)
    visits = [(s, 0) for s in range(n_subjects)] + [(int(s), 1) for s in sorted(followed)]
    gaps = rng.uniform(1.0, 3.0, len(visits))
    accessions = rng.choice(10**8, size=len(visits), replace=False)
    sites = rng.integers(0, len(_INSTITUTIONS), n_subjects)
    width = max(3, len(str(cases)))
    scans = []
    for index, v in enumerate(rng.permutation(len(visits))):
        s, visit = visits[v]
        subject = subjects[s]
        date = baseline[s] + dt.timedelta(days=round(visit * gaps[v] * _DAYS_PER_YEAR))
        scans.append(Scan(index=index, case_id=f"{generator.info.prefix}_{index + 1:0{width}d}",
                          subject=subject, visit=visit,
                          age=(date - subject.birth_date).days / _DAYS_PER_YEAR,
                          study_date=date, accession_number=f"ACC{accessions[v]:08d}",
                          institution=_INSTITUTIONS[sites[s]], seed=(seed, 2, index)))
    return scans


def _subjects(generator: CaseGenerator, baseline: list[dt.date], seed: int,
              rng: np.random.Generator) -> list[Subject]:
    """Subjects with a birth date that makes their baseline age the generator's draw."""
    n = len(baseline)
    width = max(3, len(str(n)))
    ages = [min(generator.sample_age(rng), MAX_AGE - 3.0) for _ in range(n)]
    male = rng.random(n) < generator.male_fraction
    ids = rng.choice(10**6, size=n, replace=False)
    firsts = rng.integers(0, len(_FEMALE), n)
    families = rng.integers(0, len(_FAMILY), n)
    strata = (rng.permutation(n) + rng.random(n)) / n
    return [Subject(index=i, subject_id=f"sub-{i + 1:0{width}d}", sex="M" if male[i] else "F",
                    birth_date=baseline[i] - dt.timedelta(days=round(ages[i] * _DAYS_PER_YEAR)),
                    patient_name=f"{_FAMILY[families[i]]}^"
                                 f"{(_MALE if male[i] else _FEMALE)[firsts[i]]}",
                    patient_id=f"PID{ids[i]:06d}", seed=(seed, 1, i),
                    stratum=float(strata[i]))
            for i in range(n)]
